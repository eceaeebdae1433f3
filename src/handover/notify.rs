//! Telling systemd (a `Type=notify` service) which process serves: at start, and after a
//! take-over, when the new process becomes the service's main process (`NotifyAccess=all`
//! lets it say so), so that `systemctl status` stays active and `stop` stops the right one.

use sd_notify::NotifyState;

/// This process serves now; `took_over`: in place of the process that started it.
pub(crate) fn serving(took_over: bool) {
    let pid = std::process::id();
    let states: &[NotifyState] = match took_over {
        true => &[NotifyState::MainPid(pid), NotifyState::Ready],
        false => &[NotifyState::Ready],
    };
    // Without NOTIFY_SOCKET (not under systemd), this does nothing.
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("could not tell systemd that this server is ready: {e}");
    }
}
