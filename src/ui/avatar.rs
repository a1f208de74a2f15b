//! Avatars. Their pictures come from other people's servers, so they are decoded here, under
//! limits, into small textures, once per picture; one that is too large, oddly shaped or not an
//! image at all shows the person's initials instead.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use egui::{
    Color32, ColorImage, CornerRadius, FontId, Id, Role, Sense, TextureHandle, TextureId,
    TextureOptions, Ui, Vec2, WidgetInfo,
};
use image::{DynamicImage, ImageError, ImageReader, Limits};

use crate::matrix::Profile;

/// The widest and tallest picture decoded at all.
pub const MAX_DECODED_SIDE: u32 = 4096;
/// The most memory the decoder may take for one picture.
pub const MAX_DECODE_BYTES: u64 = 16 * 1024 * 1024;
/// The side of an avatar's texture at most: the size of the thumbnails the worker asks for.
pub const TEXTURE_SIDE: u32 = 96;
/// How many times longer than its short side a picture's long side may be.
pub const MAX_ASPECT: u32 = 4;
/// How many people's textures are kept; the least recently drawn go first.
const CACHE_SIZE: usize = 256;

/// Why a picture is not shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarRejected {
    /// Not a PNG or JPEG the decoder can read.
    #[error("not an image that can be read: {0}")]
    Undecodable(String),
    /// Larger than the limits allow.
    #[error("larger than {MAX_DECODED_SIDE}×{MAX_DECODED_SIDE} pixels or {MAX_DECODE_BYTES} bytes")]
    TooLarge,
    /// A sliver rather than a picture of someone.
    #[error("{width}×{height} pixels, too narrow for an avatar")]
    OddShape {
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
    },
}

/// Decodes an avatar's encoded picture (PNG or JPEG) under [`MAX_DECODED_SIDE`] and
/// [`MAX_DECODE_BYTES`], crops it to its centred square and scales that down to at most
/// [`TEXTURE_SIDE`] pixels a side.
pub fn decode_avatar(bytes: &[u8]) -> Result<ColorImage, AvatarRejected> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| AvatarRejected::Undecodable(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| match e {
        ImageError::Limits(_) => AvatarRejected::TooLarge,
        other => AvatarRejected::Undecodable(other.to_string()),
    })?;
    let (width, height) = (picture.width(), picture.height());
    let short = width.min(height);
    if short == 0 || width.max(height) > short.saturating_mul(MAX_ASPECT) {
        return Err(AvatarRejected::OddShape { width, height });
    }
    let square = picture.crop_imm((width - short) / 2, (height - short) / 2, short, short);
    let small = if short > TEXTURE_SIDE {
        square.resize_exact(
            TEXTURE_SIDE,
            TEXTURE_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        square
    };
    Ok(color_image(&small))
}

fn color_image(picture: &DynamicImage) -> ColorImage {
    let rgba = picture.to_rgba8();
    let size = [rgba.width() as usize, rgba.height() as usize];
    ColorImage::from_rgba_unmultiplied(size, rgba.as_raw())
}

/// One person's picture as last decoded: the bytes it came from and its texture, `None` when
/// the picture was refused.
#[derive(Clone)]
struct Decoded {
    bytes: Arc<[u8]>,
    texture: Option<TextureHandle>,
    drawn_in_pass: u64,
}

/// The decoded pictures by user id, kept in egui's memory for the life of the window.
#[derive(Clone, Default)]
struct AvatarCache(HashMap<String, Decoded>);

impl AvatarCache {
    /// The texture already made from `bytes` for `user_id` (`Some(None)`: refused), marking it
    /// drawn; `None` when these bytes were not decoded yet.
    fn lookup(&mut self, user_id: &str, bytes: &Arc<[u8]>, pass: u64) -> Option<Option<TextureId>> {
        let entry = self.0.get_mut(user_id)?;
        if !Arc::ptr_eq(&entry.bytes, bytes) && *entry.bytes != **bytes {
            return None;
        }
        // Keep the newer allocation, so that the next look-up is a pointer comparison.
        entry.bytes = bytes.clone();
        entry.drawn_in_pass = pass;
        Some(entry.texture.as_ref().map(TextureHandle::id))
    }

    fn insert(&mut self, user_id: &str, decoded: Decoded) {
        if self.0.len() >= CACHE_SIZE && !self.0.contains_key(user_id) {
            let oldest = self
                .0
                .iter()
                .min_by_key(|(_, d)| d.drawn_in_pass)
                .map(|(user, _)| user.clone());
            if let Some(oldest) = oldest {
                self.0.remove(&oldest);
            }
        }
        self.0.insert(user_id.to_owned(), decoded);
    }
}

/// The texture for `user_id`'s picture `bytes`, decoded on first sight; `None` when the picture
/// is refused.
fn avatar_texture(ctx: &egui::Context, user_id: &str, bytes: &Arc<[u8]>) -> Option<TextureId> {
    let id = Id::unique("vestibule-avatars");
    let pass = ctx.cumulative_pass_nr();
    let known = ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<AvatarCache>(id)
            .lookup(user_id, bytes, pass)
    });
    if let Some(texture) = known {
        return texture;
    }
    let texture = match decode_avatar(bytes) {
        Ok(picture) => Some(ctx.load_texture(
            format!("avatar of {user_id}"),
            picture,
            TextureOptions::LINEAR,
        )),
        Err(why) => {
            tracing::debug!("the avatar of {user_id} is not shown: {why}");
            None
        }
    };
    let texture_id = texture.as_ref().map(TextureHandle::id);
    let decoded = Decoded {
        bytes: bytes.clone(),
        texture,
        drawn_in_pass: pass,
    };
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<AvatarCache>(id)
            .insert(user_id, decoded)
    });
    texture_id
}

/// The initials of a name, for an avatar without a picture.
pub fn initials(name: &str) -> String {
    let name = name.trim_start_matches(['@', '#', '!']);
    let mut words = name
        .split(|c: char| c.is_whitespace() || c == ':' || c == '.' || c == '_' || c == '-')
        .filter(|w| !w.is_empty());
    let first = words.next().and_then(|w| w.chars().next());
    let second = words.next().and_then(|w| w.chars().next());
    [first, second]
        .into_iter()
        .flatten()
        .flat_map(char::to_uppercase)
        .collect()
}

/// A stable colour for a user, for the initials avatar.
fn avatar_colour(user_id: &str) -> Color32 {
    const PALETTE: [Color32; 6] = [
        Color32::from_rgb(0x3d, 0x6e, 0xe0),
        Color32::from_rgb(0x1f, 0x9d, 0x55),
        Color32::from_rgb(0xa3, 0x5d, 0xd6),
        Color32::from_rgb(0xd9, 0x7a, 0x26),
        Color32::from_rgb(0x0d, 0x8f, 0x9e),
        Color32::from_rgb(0xc2, 0x4f, 0x8e),
    ];
    let hash = user_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

/// A room's round avatar: its initials, in a colour of its own.
pub fn room_avatar_ui(
    ui: &mut Ui,
    room_id: &str,
    name: &str,
    avatar: Option<&Arc<[u8]>>,
    size: f32,
) {
    let room = Profile {
        user_id: room_id.to_owned(),
        display_name: name.to_owned(),
        avatar: avatar.cloned(),
    };
    avatar_ui(ui, room_id, Some(&room), size);
}

/// A round avatar: the user's picture when there is one that can be shown, else their
/// initials.
pub fn avatar_ui(ui: &mut Ui, user_id: &str, profile: Option<&Profile>, size: f32) {
    let name = profile.map_or(user_id, |p| p.display_name.as_str());
    let texture = profile
        .and_then(|p| p.avatar.as_ref())
        .and_then(|bytes| avatar_texture(ui.ctx(), user_id, bytes));
    if let Some(texture) = texture {
        let image = egui::Image::from_texture((texture, Vec2::splat(size)))
            .fit_to_exact_size(Vec2::splat(size))
            .corner_radius(CornerRadius::same((size / 2.0) as u8))
            .alt_text(format!("Avatar of {name}"));
        ui.add(image);
        return;
    }
    let letters = initials(name);
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
    response.widget_info(|| {
        WidgetInfo::labeled(
            Role::Image,
            true,
            format!("Avatar of {name} (initials {letters})"),
        )
    });
    let painter = ui.painter();
    painter.circle_filled(rect.center(), size / 2.0, avatar_colour(user_id));
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        letters,
        FontId::proportional(size * 0.42),
        Color32::WHITE,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([10, 20, 30, 255]));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]));
        let mut out = Cursor::new(Vec::new());
        picture
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn initials_come_from_names_and_ids() {
        assert_eq!(initials("Alice Liddell"), "AL");
        assert_eq!(initials("@bob:example.org"), "BE");
        assert_eq!(initials("émile"), "É");
        assert_eq!(initials(""), "");
    }

    #[test]
    fn small_pictures_keep_their_size_and_large_ones_are_scaled_down() {
        assert_eq!(decode_avatar(&png(48, 48)).unwrap().size, [48, 48]);
        assert_eq!(decode_avatar(&png(96, 96)).unwrap().size, [96, 96]);
        assert_eq!(decode_avatar(&png(640, 640)).unwrap().size, [96, 96]);
        assert_eq!(decode_avatar(&jpeg(300, 300)).unwrap().size, [96, 96]);
        let picture = decode_avatar(&png(4096, 4)).unwrap_err();
        assert_eq!(
            picture,
            AvatarRejected::OddShape {
                width: 4096,
                height: 4
            }
        );
    }

    #[test]
    fn oblong_pictures_are_cropped_to_their_middle_square() {
        // Wide: 200×100 with a white middle square between black sides.
        let mut picture = image::RgbaImage::from_pixel(200, 100, image::Rgba([0, 0, 0, 255]));
        for x in 50..150 {
            for y in 0..100 {
                picture.put_pixel(x, y, image::Rgba([255, 255, 255, 255]));
            }
        }
        let mut bytes = Cursor::new(Vec::new());
        picture
            .write_to(&mut bytes, image::ImageFormat::Png)
            .unwrap();
        let decoded = decode_avatar(bytes.get_ref()).unwrap();
        assert_eq!(decoded.size, [96, 96]);
        assert!(decoded.pixels.iter().all(|p| *p == Color32::WHITE));
        assert_eq!(decode_avatar(&png(30, 100)).unwrap().size, [30, 30]);
    }

    /// A one-pixel PNG whose header claims `width` by `height`: what a hostile server could
    /// send to make a decoder allocate.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        fn crc32(data: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &byte in data {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        0xedb8_8320 ^ (crc >> 1)
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let mut bytes = png(1, 1);
        // The signature (8), then IHDR: length (4), type (4), width (4), height (4), ...
        assert_eq!(&bytes[12..16], b"IHDR");
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn pictures_beyond_the_limits_are_refused_before_they_are_decoded() {
        assert_eq!(
            decode_avatar(&png(1, 40_000)).unwrap_err(),
            AvatarRejected::TooLarge
        );
        assert_eq!(
            decode_avatar(&png_claiming(MAX_DECODED_SIDE + 1, 64)).unwrap_err(),
            AvatarRejected::TooLarge
        );
        assert_eq!(
            decode_avatar(&png_claiming(64, MAX_DECODED_SIDE + 1)).unwrap_err(),
            AvatarRejected::TooLarge
        );
        // Within the sides, but more pixels than the decoder may allocate for.
        assert_eq!(
            decode_avatar(&png_claiming(2100, 2100)).unwrap_err(),
            AvatarRejected::TooLarge
        );
        // A header that claims an allowed size, and no pixels behind it.
        assert!(matches!(
            decode_avatar(&png_claiming(64, 64)),
            Err(AvatarRejected::Undecodable(_))
        ));
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(
            decode_avatar(&truncated),
            Err(AvatarRejected::Undecodable(_))
        ));
    }

    #[test]
    fn what_is_not_a_picture_is_refused() {
        for bytes in [
            &b""[..],
            b"hello",
            b"\x89PNG\r\n\x1a\n garbage",
            b"\xff\xd8\xff junk",
        ] {
            assert!(
                matches!(decode_avatar(bytes), Err(AvatarRejected::Undecodable(_))),
                "{bytes:?}"
            );
        }
    }
}
