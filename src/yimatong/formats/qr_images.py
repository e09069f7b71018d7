"""QR codes read from a photo: a phone on the bureau's plain-HTTP intranet cannot open the camera from a page
(browsers allow that only on HTTPS), but it can take a picture for a file input; the server reads the code."""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger is refused rather than decoded (decompression bombs)


class QrImageError(ValueError):
    pass


def read_qr_texts(data: bytes) -> list[str]:
    """The texts of the QR codes in an image (JPEG, PNG, WebP, …), in the order zxing-cpp finds them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise QrImageError(f"图片过大（{image.width}×{image.height}），请拍摄较小的照片")
            image = ImageOps.exif_transpose(image)  # phones store the orientation apart from the pixels
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise QrImageError("无法识别的图片文件：请上传 JPEG 或 PNG 照片") from None
    return [r.text for r in zxingcpp.read_barcodes(image.convert("L")) if r.format == zxingcpp.BarcodeFormat.QRCode]
