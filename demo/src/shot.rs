//! Screenshots: the root window read with GetImage through x11rb, as RGB pixels.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat};

/// An RGB image of part of the screen, rows top to bottom, 3 bytes a pixel.
#[derive(Clone)]
pub struct Image {
    /// Where its top-left pixel is on the screen.
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Image {
    /// The colour at (x, y) of the screen, or `None` outside the image.
    pub fn pixel(&self, x: i32, y: i32) -> Option<[u8; 3]> {
        let (x, y) = (
            u32::try_from(x - self.x).ok()?,
            u32::try_from(y - self.y).ok()?,
        );
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }

    /// How many pixels of the rectangle (x, y, w, h) (clipped to the image) have colour
    /// `rgb`.
    pub fn count(&self, (x, y, w, h): (i32, i32, i32, i32), rgb: [u8; 3]) -> usize {
        (y..y + h)
            .flat_map(|py| (x..x + w).map(move |px| (px, py)))
            .filter(|&(px, py)| self.pixel(px, py) == Some(rgb))
            .count()
    }
}

/// The whole screen of `conn`'s first root window.
pub fn screenshot(conn: &impl Connection) -> Result<Image, String> {
    let screen = &conn.setup().roots[0];
    region(
        conn,
        (
            0,
            0,
            screen.width_in_pixels.into(),
            screen.height_in_pixels.into(),
        ),
    )
}

/// The part (x, y, w, h) of the screen, clipped to it: a few pixels to look at, quicker
/// to read than the whole screen.
pub fn region(conn: &impl Connection, (x, y, w, h): (i32, i32, i32, i32)) -> Result<Image, String> {
    let screen = &conn.setup().roots[0];
    let (sw, sh) = (
        i32::from(screen.width_in_pixels),
        i32::from(screen.height_in_pixels),
    );
    let (x0, y0) = (x.clamp(0, sw), y.clamp(0, sh));
    let (w, h) = ((x + w).clamp(0, sw) - x0, (y + h).clamp(0, sh) - y0);
    if w == 0 || h == 0 {
        return Err(format!("({x}, {y}, {w}, {h}) is off the screen"));
    }
    let narrow = |v: i32| u16::try_from(v).map_err(|_| format!("{v} pixels"));
    let (w, h) = (narrow(w)?, narrow(h)?);
    let at = |v: i32| i16::try_from(v).map_err(|_| format!("{v} pixels"));
    let image = conn
        .get_image(
            ImageFormat::Z_PIXMAP,
            screen.root,
            at(x0)?,
            at(y0)?,
            w,
            h,
            !0,
        )
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    if image.depth != 24 && image.depth != 32 {
        return Err(format!("depth {} is not 24 or 32 bits", image.depth));
    }
    Ok(Image {
        x: x0,
        y: y0,
        width: u32::from(w),
        height: u32::from(h),
        rgb: bgrx_to_rgb(&image.data, usize::from(w) * usize::from(h))?,
    })
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

    #[test]
    fn pixels_are_read_and_counted_inside_the_image_only() {
        let image = Image {
            x: 10,
            y: 0,
            width: 2,
            height: 1,
            rgb: vec![1, 2, 3, 4, 5, 6],
        };
        assert_eq!(image.pixel(11, 0), Some([4, 5, 6]));
        assert_eq!(image.pixel(12, 0), None);
        assert_eq!(image.pixel(9, 0), None);
        assert_eq!(image.count((5, -5, 20, 20), [1, 2, 3]), 1);
    }
}
