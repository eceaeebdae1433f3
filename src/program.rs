//! The names this one binary answers to: `scistream`, and upstream's programs (scistream-proto
//! 1.2), each a symlink to it that `scistream install-links` makes.

use std::ffi::OsStr;
use std::path::Path;

/// Upstream's programs, whose command lines the binary speaks when invoked by their name.
pub const UPSTREAM: [&str; 3] = ["s2cs", "s2uc", "appctrl"];

/// The upstream program that `argv0` names, if it names one.
pub fn upstream(argv0: &OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?;
    UPSTREAM.into_iter().find(|program| name == *program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_argv0s_file_name() {
        assert_eq!(upstream(OsStr::new("/usr/local/bin/s2cs")), Some("s2cs"));
        assert_eq!(upstream(OsStr::new("s2uc")), Some("s2uc"));
        assert_eq!(upstream(OsStr::new("./appctrl")), Some("appctrl"));
        assert_eq!(upstream(OsStr::new("/usr/bin/scistream")), None);
        assert_eq!(upstream(OsStr::new("/opt/s2cs/scistream")), None);
    }
}
