//! Upstream SciStream's command lines (scistream-proto 1.2), spoken when the binary is invoked
//! under their names.

pub mod appctrl;
