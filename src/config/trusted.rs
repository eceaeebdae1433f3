//! Files scistream trusts (the config file, the server's client secret) are used only if no
//! one but this user or root could have written them: a client config that others can write
//! could send the refresh token to an auth server of their choosing, and a server config could
//! name them admins. The file's directory counts too, since whoever can write it can replace
//! the file (unless the directory is sticky, as /tmp is: then only the file's owner can).

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Group and others' write bits.
const WRITABLE_BY_OTHERS: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Reads `path` (`what` names it in errors) if only this user or root could have written it;
/// None if it does not exist.
pub(crate) fn read_trusted(path: &Path, what: &str) -> anyhow::Result<Option<String>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(could_not_read(what, path, err)),
    };
    // The opened file itself is checked, not a path someone could swap after the check.
    let metadata = file.metadata().map_err(|e| could_not_read(what, path, e))?;
    if let Some(problem) = Problem::of(&metadata, false) {
        return Err(untrusted(what, path, None, problem));
    }
    check_directories(what, path)?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| could_not_read(what, path, e))?;
    Ok(Some(text))
}

/// Refuses `path`'s directory (where it is, and where it links to) if someone other than this
/// user or root could replace files in it. A directory that does not exist yet is fine.
pub(crate) fn check_directories(what: &str, path: &Path) -> anyhow::Result<()> {
    let parent = |p: &Path| match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(path)];
    if let Ok(real) = fs::canonicalize(path) {
        dirs.push(parent(&real));
    }
    for dir in dirs {
        let metadata = match fs::metadata(&dir) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(could_not_read(what, &dir, err)),
        };
        if let Some(problem) = Problem::of(&metadata, true) {
            return Err(untrusted(what, path, Some(&dir), problem));
        }
    }
    Ok(())
}

/// Who else could have written a file or directory.
enum Problem {
    /// Another user (not root) owns it.
    Owner { owner: u32, me: u32 },
    /// Its group or others may write it (a sticky directory aside).
    Writable { mode: u32 },
}

impl Problem {
    fn of(metadata: &Metadata, dir: bool) -> Option<Problem> {
        let me = current_uid();
        let owner = metadata.uid();
        let mode = metadata.permissions().mode() & 0o7777;
        if owner != me && owner != 0 {
            return Some(Problem::Owner { owner, me });
        }
        let sticky_dir = dir && mode & STICKY != 0;
        (mode & WRITABLE_BY_OTHERS != 0 && !sticky_dir).then_some(Problem::Writable { mode })
    }

    fn describe(&self) -> String {
        match *self {
            Problem::Owner { owner, me } => {
                format!("owned by another user (uid {owner}; you are uid {me})")
            }
            Problem::Writable { mode } => {
                let who = match mode & WRITABLE_BY_OTHERS {
                    0o020 => "its group",
                    0o002 => "others",
                    _ => "its group and others",
                };
                format!("writable by {who} (mode {mode:04o})")
            }
        }
    }

    fn fix(&self, path: &Path) -> String {
        match self {
            Problem::Owner { me, .. } => format!("sudo chown {me} {}", path.display()),
            Problem::Writable { .. } => format!("chmod go-w {}", path.display()),
        }
    }
}

/// The refusal of `file`, for a problem of its own or of its directory `dir`.
fn untrusted(what: &str, file: &Path, dir: Option<&Path>, problem: Problem) -> anyhow::Error {
    let (place, fixed) = match dir {
        Some(dir) => (format!("in directory {}, which is ", dir.display()), dir),
        None => (String::new(), file),
    };
    anyhow::anyhow!(
        "{what} {} is {place}{}: {}; fix it with `{}` (scistream does not use a file that \
         someone else could have changed)",
        file.display(),
        problem.describe(),
        stake(what),
        problem.fix(fixed)
    )
}

/// What someone who could change the file could do.
fn stake(what: &str) -> &'static str {
    match what {
        "--client-secret-file" => {
            "this server's credentials must come from a file that only its own user (or root) \
             controls"
        }
        _ => {
            "whoever can change it can choose where your tokens are sent and, on a gateway, who \
             is an admin"
        }
    }
}

fn could_not_read(what: &str, path: &Path, err: io::Error) -> anyhow::Error {
    anyhow::Error::new(err).context(format!("could not read {what} {}", path.display()))
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
