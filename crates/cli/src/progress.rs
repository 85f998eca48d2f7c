//! Progress bars on stderr, quiet when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `total` items, labelled `what`; its message, when set, follows dimmed.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {wide_msg:.dim}",
        )
        .expect("static template is valid")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}
