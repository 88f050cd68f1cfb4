//! Screenshots: the root window read with GetImage through x11rb, written as PNG.

use std::path::Path;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat};

/// Writes the whole screen of `conn`'s first root window to `path`.
pub fn screenshot(conn: &impl Connection, path: &Path) -> Result<(), String> {
    let screen = &conn.setup().roots[0];
    let (w, h) = (screen.width_in_pixels, screen.height_in_pixels);
    let image = conn
        .get_image(ImageFormat::Z_PIXMAP, screen.root, 0, 0, w, h, !0)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    if image.depth != 24 && image.depth != 32 {
        return Err(format!("depth {} is not 24 or 32 bits", image.depth));
    }
    let rgb = bgrx_to_rgb(&image.data, usize::from(w) * usize::from(h))?;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), u32::from(w), u32::from(h));
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

/// 32-bit pixels in the server's little-endian order (blue, green, red, unused) to RGB.
fn bgrx_to_rgb(data: &[u8], pixels: usize) -> Result<Vec<u8>, String> {
    if data.len() < pixels * 4 {
        return Err(format!("{} bytes of image for {pixels} pixels", data.len()));
    }
    Ok(data[..pixels * 4]
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_come_out_red_green_blue() {
        assert_eq!(
            bgrx_to_rgb(&[1, 2, 3, 0, 4, 5, 6, 0], 2).unwrap(),
            [3, 2, 1, 6, 5, 4]
        );
        assert!(bgrx_to_rgb(&[1, 2, 3], 1).is_err());
    }
}
