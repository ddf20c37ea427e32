//! PNG copies of the figures, rendered from their SVG by resvg (pure Rust) with DejaVu Sans built in, so that the
//! bytes depend on nothing installed on the machine (the report stays byte-identical across machines).

use anyhow::{Context, Result};
use resvg::{tiny_skia, usvg};

/// Pixels per SVG unit of the PNG files (2: sharp on slides and high-density screens).
pub const PNG_SCALE: f32 = 2.0;

/// Renders SVG documents to PNG with one font database.
pub struct Rasteriser {
    opt: usvg::Options<'static>,
}

impl std::fmt::Debug for Rasteriser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rasteriser")
    }
}

impl Default for Rasteriser {
    fn default() -> Self {
        Self::new()
    }
}

impl Rasteriser {
    pub fn new() -> Self {
        let mut opt = usvg::Options::default();
        let db = opt.fontdb_mut();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Rasteriser { opt }
    }

    /// The PNG bytes of an SVG document at [`PNG_SCALE`].
    pub fn png(&self, svg: &str) -> Result<Vec<u8>> {
        let tree = usvg::Tree::from_str(svg, &self.opt).context("parsing a figure's SVG")?;
        let size = tree
            .size()
            .to_int_size()
            .scale_by(PNG_SCALE)
            .context("empty figure")?;
        let mut pm = tiny_skia::Pixmap::new(size.width(), size.height()).context("figure too large")?;
        resvg::render(
            &tree,
            tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
            &mut pm.as_mut(),
        );
        pm.encode_png().context("encoding PNG")
    }
}
