//! Where scistream keeps its files: the YAML config, the server's generated certificate and
//! its state directory (the session store).

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

/// The server's state directory when `--state-dir` is not given: beside an explicit config
/// file (`<its directory>/state`, so that each gateway with a config of its own has state of its
/// own), else `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
/// `$XDG_STATE_HOME/scistream`, else `~/.local/state/scistream`.
pub(crate) fn state_dir(explicit_config: Option<&Path>) -> PathBuf {
    if explicit_config.is_some() {
        return config_dir(explicit_config).join("state");
    }
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dirs) = var("STATE_DIRECTORY") {
        // systemd lists several, separated by colons, when the unit names several.
        let dirs = dirs.to_string_lossy().into_owned();
        return PathBuf::from(dirs.split(':').next().unwrap_or_default());
    }
    var("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("scistream")
}
