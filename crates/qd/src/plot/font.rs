//! Registers the embedded DejaVu Sans as plotters' "sans-serif" family.

use std::sync::Once;

use plotters::style::{register_font, FontStyle};

/// The font family every plot uses.
pub(super) const FAMILY: &str = "sans-serif";

/// Registers the font once per process.
pub(super) fn ensure_registered() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            // The font ships inside the binary; failing to parse it is a build defect.
            register_font(FAMILY, style, bytes)
                .unwrap_or_else(|_| panic!("embedded DejaVu Sans does not parse"));
        }
    });
}
