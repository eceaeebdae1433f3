//! Where scistream keeps its files: the YAML config and the server's generated certificate.

use std::path::{Path, PathBuf};

/// The config file: `--config`/`SCISTREAM_CONFIG`, else `$XDG_CONFIG_HOME/scistream/config.yaml`,
/// else `~/.config/scistream/config.yaml`.
pub(crate) fn config_file(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("scistream").join("config.yaml")
}

/// The directory beside the config file, which also holds the generated server certificate.
pub(crate) fn config_dir(explicit: Option<&Path>) -> PathBuf {
    let file = config_file(explicit);
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}
