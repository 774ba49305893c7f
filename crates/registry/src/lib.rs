//! berth-registry: the distribution protocol. Registry settings (mirrors, insecure
//! registries, short-name search), docker's credentials, and streaming pull and push
//! over `oci-client` (rustls).
//!
//! DESIGN.md keeps tokio out of berth: libcontainer forks and must never run inside
//! an async runtime. oci-client is async, so tokio lives in this crate only: each
//! `pull`/`push` builds a small runtime ([`client::runtime`]) and drops it before it
//! returns; callers stay synchronous and the monitor never links a runtime in.
//!
//! Layers are fetched with oci-client's blob *streams* (its `pull()` buffers whole
//! layers in memory), teed into a resumable partial file and an unpacker at once;
//! see [`fetch`].

pub mod client;
pub mod credentials;
pub mod document;
pub mod fetch;
pub mod login;
pub mod manifest;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;
pub mod records;
pub mod settings;

pub use platform::Platform;
pub use progress::{Progress, Silent};
pub use pull::{pull, PullError, PullOptions, Pulled};
pub use push::{push, PushError, Pushed};
pub use settings::Settings;
