//! `berth build`'s flags, and the docker flags it refuses by name.

use clap::{ArgAction, Args};

/// `docker build` flags. Flags docker has and berth does not are accepted by
/// clap only to be refused with a reason ([`BuildArgs::unsupported`]).
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); may be given more than once
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; - reads it from standard input)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set a build-time variable (KEY=VALUE, or KEY to take the caller's value)
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Build the stage of this name and stop
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the build cache
    #[arg(long = "no-cache", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub no_cache: bool,
    /// Always look for a newer version of the base images
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub pull: bool,
    /// Set metadata on the image (KEY=VALUE)
    #[arg(long)]
    pub label: Vec<String>,
    /// Target platform (only this machine's, e.g. linux/amd64)
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the image id
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Write the image id to this file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// A secret for RUN --mount=type=secret (id=NAME,src=FILE or id=NAME,env=VAR)
    #[arg(long)]
    pub secret: Vec<String>,
    /// Progress output: auto, plain, tty or quiet
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Network of RUN steps without --network: default, none or host
    #[arg(long)]
    pub network: Option<String>,
    /// Remove intermediate containers (always done; --rm=false is refused)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", action = ArgAction::Set)]
    pub rm: bool,
    /// Always remove intermediate containers (always done)
    #[arg(long = "force-rm", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force_rm: bool,
    /// Load the image into the local store (always done)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub load: bool,
    /// docker build flags berth refuses, by name.
    #[arg(long = "cache-from", hide = true)]
    pub cache_from: Vec<String>,
    #[arg(long = "cache-to", hide = true)]
    pub cache_to: Vec<String>,
    #[arg(short = 'o', long = "output", hide = true)]
    pub output: Vec<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub push: Option<String>,
    #[arg(long, hide = true)]
    pub ssh: Vec<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub squash: Option<String>,
    #[arg(long = "add-host", hide = true)]
    pub add_host: Vec<String>,
    #[arg(long = "build-context", hide = true)]
    pub build_context: Vec<String>,
    #[arg(long = "cgroup-parent", hide = true)]
    pub cgroup_parent: Option<String>,
    #[arg(long = "shm-size", hide = true)]
    pub shm_size: Option<String>,
    #[arg(long, hide = true)]
    pub ulimit: Vec<String>,
    #[arg(short = 'm', long, hide = true)]
    pub memory: Option<String>,
    #[arg(long = "security-opt", hide = true)]
    pub security_opt: Vec<String>,
    #[arg(long, hide = true)]
    pub allow: Vec<String>,
    #[arg(long, hide = true)]
    pub attest: Vec<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub provenance: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub sbom: Option<String>,
    #[arg(long, hide = true)]
    pub annotation: Vec<String>,
    #[arg(long = "metadata-file", hide = true)]
    pub metadata_file: Option<String>,
    #[arg(long, hide = true)]
    pub builder: Option<String>,
    #[arg(long = "no-cache-filter", hide = true)]
    pub no_cache_filter: Vec<String>,
    #[arg(long, hide = true)]
    pub isolation: Option<String>,
    /// The build context: a directory, - (a tar or a Dockerfile on standard input), or an http(s) URL of a tar
    pub context: String,
}

impl BuildArgs {
    /// The first docker flag given that berth does not support, with why.
    pub fn unsupported(&self) -> Option<(&'static str, &'static str)> {
        let checks: [(bool, &str, &str); 23] = [
            (
                !self.cache_from.is_empty(),
                "--cache-from",
                "berth caches build steps locally only",
            ),
            (
                !self.cache_to.is_empty(),
                "--cache-to",
                "berth caches build steps locally only",
            ),
            (
                !self.output.is_empty(),
                "--output",
                "the image goes into berth's store; use berth save to export it",
            ),
            (
                self.push.is_some(),
                "--push",
                "build, then berth push the tag",
            ),
            (
                !self.ssh.is_empty(),
                "--ssh",
                "berth has no SSH agent forwarding; pass a key with --secret",
            ),
            (
                self.squash.is_some(),
                "--squash",
                "squash with a last stage: FROM scratch, COPY --from=previous / /",
            ),
            (
                !self.add_host.is_empty(),
                "--add-host",
                "build steps use the default /etc/hosts",
            ),
            (
                !self.build_context.is_empty(),
                "--build-context",
                "only the main context is supported; COPY --from a stage or image instead",
            ),
            (
                self.cgroup_parent.is_some(),
                "--cgroup-parent",
                "build steps run in berth's own cgroups",
            ),
            (
                self.shm_size.is_some(),
                "--shm-size",
                "build steps get the default /dev/shm",
            ),
            (
                !self.ulimit.is_empty(),
                "--ulimit",
                "build steps get the default limits",
            ),
            (
                self.memory.is_some(),
                "--memory",
                "build steps are not memory-limited",
            ),
            (
                !self.security_opt.is_empty(),
                "--security-opt",
                "build steps run with the default security profile",
            ),
            (
                !self.allow.is_empty(),
                "--allow",
                "no entitlements (network.host is always allowed, security.insecure never)",
            ),
            (
                !self.attest.is_empty(),
                "--attest",
                "berth writes no attestations",
            ),
            (
                self.provenance.is_some(),
                "--provenance",
                "berth writes no attestations",
            ),
            (
                self.sbom.is_some(),
                "--sbom",
                "berth writes no attestations",
            ),
            (!self.annotation.is_empty(), "--annotation", "use --label"),
            (
                self.metadata_file.is_some(),
                "--metadata-file",
                "use --iidfile",
            ),
            (
                self.builder.is_some(),
                "--builder",
                "berth is its own builder",
            ),
            (
                !self.no_cache_filter.is_empty(),
                "--no-cache-filter",
                "use --no-cache",
            ),
            (
                self.isolation.is_some(),
                "--isolation",
                "Linux containers only",
            ),
            (
                !self.rm,
                "--rm=false",
                "berth always removes the containers of build steps",
            ),
        ];
        checks.into_iter().find(|c| c.0).map(|c| (c.1, c.2))
    }
}

/// `docker builder` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// `docker builder prune` flags.
#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all build cache, not just dangling cache
    #[arg(short = 'a', long = "all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub all: bool,
    /// Provide filter values (only until=DURATION|TIMESTAMP)
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
    /// Amount of disk space to keep for cache (refused: berth does not size the cache)
    #[arg(long = "keep-storage", alias = "reserved-space")]
    pub keep_storage: Option<String>,
}
