//! `scistream install-links DIR`: upstream's program names as symlinks to this binary.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::program;

#[derive(Debug, Args)]
#[command(after_help = "Example:
  scistream install-links ~/.local/bin      # then: s2cs --help, s2uc --help, appctrl --help")]
pub struct InstallLinksArgs {
    /// Directory to create s2cs, s2uc and appctrl in (created if missing), usually one on PATH
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub(crate) fn run(args: InstallLinksArgs) -> Result<()> {
    let binary = std::env::current_exe().context("could not find the path of this binary")?;
    fs::create_dir_all(&args.dir)
        .with_context(|| format!("could not create {}", args.dir.display()))?;
    for name in program::UPSTREAM {
        let link = args.dir.join(name);
        replace_link(&binary, &link)?;
        println!("{} -> {}", link.display(), binary.display());
    }
    Ok(())
}

/// Points `link` at `binary`, replacing an older symlink but never a real file (such as an
/// upstream install's script).
fn replace_link(binary: &Path, link: &Path) -> Result<()> {
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => fs::remove_file(link)
            .with_context(|| format!("could not replace the symlink {}", link.display()))?,
        Ok(_) => bail!(
            "{} exists and is not a symlink (an upstream scistream-proto install?): remove it, \
             or pick another DIR",
            link.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("could not inspect {}", link.display())),
    }
    std::os::unix::fs::symlink(binary, link)
        .with_context(|| format!("could not create the symlink {}", link.display()))
}
