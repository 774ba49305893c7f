//! A command whose reader goes away (`berth ps | head -1`) ends as docker's CLI
//! does there: quietly, with the status a shell shows for a writer killed by
//! SIGPIPE (141), and nothing printed.
//!
//! Rust starts with SIGPIPE ignored, so `println!` to a pipe nobody reads fails
//! with EPIPE and panics ("failed printing to stdout"), which printed a panic
//! and ended with 101. SIGPIPE stays ignored (its default would also kill the
//! attached CLI on a write to a monitor's socket that has closed, which the
//! client handles, `berth_engine::client`); only that one panic, with its
//! reader really gone, becomes the quiet exit, as Go does for writes to
//! standard output and error alone.

use berth_engine::client::READER_GONE;
use std::os::fd::BorrowedFd;

/// Installs the panic hook; any other panic is reported as before.
pub fn install() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if printing_failed_for_want_of_a_reader(message) {
            std::process::exit(READER_GONE);
        }
        report(info)
    }));
}

/// Whether the panic is std's failed print to an output whose reader is gone.
fn printing_failed_for_want_of_a_reader(message: &str) -> bool {
    let fd = match message {
        m if m.starts_with("failed printing to stdout") => 1,
        m if m.starts_with("failed printing to stderr") => 2,
        _ => return false,
    };
    // SAFETY: standard output and error stay open for the process's life.
    reader_gone(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// A pipe or socket whose reading end is closed polls as an error or hang-up
/// on the writing end; a file or terminal never does.
fn reader_gone(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
        Ok(_) => fds[0].revents().is_some_and(|r| {
            r.intersects(nix::poll::PollFlags::POLLERR | nix::poll::PollFlags::POLLHUP)
        }),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pipe_whose_reader_is_closed_is_told_from_one_still_read() {
        let (reader, writer) = std::io::pipe().unwrap();
        assert!(!reader_gone(writer.as_fd()));
        drop(reader);
        assert!(reader_gone(writer.as_fd()));
    }

    #[test]
    fn a_file_is_never_a_gone_reader() {
        let file = tempfile::tempfile().unwrap();
        assert!(!reader_gone(file.as_fd()));
    }

    #[test]
    fn only_std_print_failures_count() {
        assert!(!printing_failed_for_want_of_a_reader("index out of bounds"));
        assert!(!printing_failed_for_want_of_a_reader(""));
    }
}
