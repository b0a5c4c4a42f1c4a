"""Image reader: headers and metadata only (EXIF with its sub-IFDs and thumbnail, XMP, PNG text, ICC)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from conftest import shared_corpus
from leaksift.ingest import image as imagemod
from leaksift.ingest.base import Budget, BytesBlob, Context, Limits, Parsed
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry

XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
       b' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
       b' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmp:CreatorTool="Adobe Photoshop 24.0"'
       b' photoshop:DateCreated="2017-05-04T12:00:00+02:00"><dc:creator><rdf:Seq><rdf:li>Alice</rdf:li>'
       b'</rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def ingest(path: Path):
    return list(Engine(default_registry(), Limits()).ingest_file(path.parent, path.name))[-1]


def read(data: bytes) -> dict:
    ctx = Context(Limits(), Parsed(), Budget(10 ** 9))
    list(imagemod.ImageReader().read(BytesBlob(data), ctx))
    return ctx.out.metadata


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "LeakCam"
    exif[ExifTags.Base.Model] = "X1"
    exif[ExifTags.Base.Software] = "Editor 2.0"
    exif[ExifTags.Base.DateTime] = "2017:05:05 09:00:00"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = "2017:05:04 12:00:00"
    sub[ExifTags.Base.DateTimeDigitized] = "2017:05:04 12:00:01"
    sub[ExifTags.Base.OffsetTimeOriginal] = "+02:00"
    sub[ExifTags.Base.SubsecTimeOriginal] = "123"
    sub[ExifTags.Base.UserComment] = b"ASCII\x00\x00\x00taken at the office"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(52), IFDRational(31), IFDRational(1230, 100))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (IFDRational(13), IFDRational(24), IFDRational(0))
    return exif


def test_jpeg_exif_gps_xmp(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), "red").save(path, "JPEG", exif=camera_exif(), xmp=XMP, comment=b"hello")
    rec = ingest(path)
    md = rec.metadata
    assert rec.error is None and rec.mime == "image/jpeg" and rec.text is None
    assert (md["format"], md["width"], md["height"], md["mode"]) == ("JPEG", 64, 48, "RGB")
    assert md["exif"]["ifd0"]["Make"] == "LeakCam" and md["exif"]["ifd0"]["DateTime"] == "2017:05:05 09:00:00"
    sub = md["exif"]["exif"]
    assert sub["DateTimeOriginal"] == "2017:05:04 12:00:00" and sub["OffsetTimeOriginal"] == "+02:00"
    assert sub["SubsecTimeOriginal"] == "123" and sub["UserComment"] == "taken at the office"
    assert md["exif"]["gps"]["GPSLatitude"] == [52.0, 31.0, 12.3]  # as given
    assert md["gps_decimal"] == {"latitude": 52.5200833, "longitude": -13.4}
    assert md["created"] == "2017-05-04T12:00:00.123+02:00"
    assert md["digitized"] == "2017-05-04T12:00:01" and md["modified"] == "2017-05-05T09:00:00"
    assert (md["camera_make"], md["camera_model"], md["software"]) == ("LeakCam", "X1", "Editor 2.0")
    assert md["xmp"]["xmp:CreatorTool"] == "Adobe Photoshop 24.0"
    assert md["xmp"]["photoshop:DateCreated"] == "2017-05-04T12:00:00+02:00"
    assert md["xmp"]["dc:creator"] == ["Alice"]
    assert md["info"]["comment"] == "hello"
    assert [s[0] for s in md["jpeg_segments"]][:2] == ["APP0", "APP1"]
    assert len(md["jpeg_quantization"]["0"]) == 64


def tiff_with_thumbnail(thumb: bytes) -> bytes:
    """An EXIF block by hand: IFD0 (Make) -> IFD1 (JPEGInterchangeFormat/Length) -> the thumbnail bytes."""
    make = b"ThumbCam\x00"
    ifd0_at = 8
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, len(make), 0) + b"\x00\x00\x00\x00"
    make_at = ifd0_at + len(ifd0)
    ifd1_at = make_at + len(make) + (len(make) & 1)
    ifd1_len = 2 + 2 * 12 + 4
    thumb_at = ifd1_at + ifd1_len
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, len(make), make_at) + struct.pack("<I", ifd1_at)
    ifd1 = (struct.pack("<H", 2) + struct.pack("<HHII", 0x0201, 4, 1, thumb_at)
            + struct.pack("<HHII", 0x0202, 4, 1, len(thumb)) + struct.pack("<I", 0))
    body = b"II*\x00" + struct.pack("<I", ifd0_at) + ifd0 + make + b"\x00" * (len(make) & 1) + ifd1 + thumb
    return b"Exif\x00\x00" + body


def test_exif_thumbnail_is_hashed(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), "blue").save(buf, "JPEG")
    thumb = buf.getvalue()
    path = tmp_path / "thumb.jpg"
    Image.new("RGB", (160, 120), "green").save(path, "JPEG", exif=tiff_with_thumbnail(thumb))
    md = ingest(path).metadata
    assert md["exif"]["ifd0"]["Make"] == "ThumbCam"
    assert md["exif"]["ifd1"]["JpegIFByteCount"] == len(thumb)
    t = md["thumbnail"]
    assert t["sha256"] == hashlib.sha256(thumb).hexdigest() and t["size"] == len(thumb)
    assert (t["width"], t["height"]) == (16, 12)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_png_text_chunks_time_and_trailing_bytes(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Alice")
    info.add_text("Comment", "compressed " * 20, zip=True)
    info.add_itxt("Description", "Grüße", lang="de", tkey="Beschreibung")
    info.add(b"tIME", struct.pack(">HBBBBB", 2017, 5, 4, 10, 0, 0))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(buf, "PNG", pnginfo=info, icc_profile=icc, exif=camera_exif())
    data = buf.getvalue()
    iend = data.rindex(b"IEND") - 4
    # text after the pixel data (Pillow reads it only by decoding), and bytes hidden after IEND
    data = data[:iend] + png_chunk(b"tEXt", b"Software\x00GIMP 2.10") + data[iend:] + b"hidden"
    path = tmp_path / "text.png"
    path.write_bytes(data)
    md = ingest(path).metadata
    assert (md["format"], md["width"], md["height"]) == ("PNG", 20, 10)
    text = md["png_text"]
    assert text["Author"] == "Alice" and text["Comment"] == "compressed " * 20
    assert text["Description[de]"] == "Grüße" and text["Software"] == "GIMP 2.10"
    assert md["png_time"] == "2017-05-04T10:00:00"
    assert md["png_bytes_after_iend"] == len(b"hidden")
    assert md["png_chunks"]["tEXt"] == 2 and md["png_chunks"]["IDAT"] >= 1
    assert md["icc"]["description"] == "sRGB built-in" and md["icc"]["class"] == "mntr"
    assert md["exif"]["ifd0"]["Make"] == "LeakCam"  # from the eXIf chunk


def test_webp_metadata_without_its_decoder(tmp_path: Path) -> None:
    path = tmp_path / "pic.webp"
    Image.new("RGB", (33, 17), "red").save(path, "WEBP", exif=camera_exif(), xmp=XMP)
    md = ingest(path).metadata
    assert (md["format"], md["width"], md["height"]) == ("WEBP", 33, 17)
    assert md["exif"]["ifd0"]["Model"] == "X1" and md["xmp"]["dc:creator"] == ["Alice"]
    assert md["webp_flags"]["exif"] is True and md["frames"] == 1


def test_tiff_gif_bmp_headers(tmp_path: Path) -> None:
    tiff = tmp_path / "scan.tif"
    Image.new("L", (30, 20)).save(tiff, tiffinfo={305: "ScanSoft 1.0", 315: "Bob", 306: "2017:05:04 12:00:00"})
    md = ingest(tiff).metadata
    assert md["format"] == "TIFF" and md["exif"]["ifd0"]["Software"] == "ScanSoft 1.0"
    assert md["artist"] == "Bob" and md["modified"] == "2017-05-04T12:00:00"
    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], comment=b"made by hand")
    md = ingest(gif).metadata
    assert md["frames"] == 3 and md["info"]["comment"] == "made by hand"
    bmp = tmp_path / "x.bmp"
    Image.new("RGB", (5, 4)).save(bmp)
    md = ingest(bmp).metadata
    assert (md["format"], md["width"], md["height"]) == ("BMP", 5, 4)


def test_huge_declared_size_is_read_without_pillow_limit() -> None:
    """A PNG claiming 100000x100000 pixels: headers only, no global setting touched, no decode."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"tEXt", b"Title\x00big") + \
        png_chunk(b"IEND", b"")
    before = Image.MAX_IMAGE_PIXELS
    md = read(data)
    assert Image.MAX_IMAGE_PIXELS == before
    assert (md["width"], md["height"]) == (100_000, 100_000)
    assert "pixels_over_pillow_limit" in md and md["png_text"]["Title"] == "big"


@pytest.mark.parametrize("data, reason", [
    (b"\xff\xd8\xff\xe0" + b"\x00" * 10, "corrupt"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 3, "corrupt"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "unsupported"),
])
def test_broken_images_are_recorded(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "broken.img"
    path.write_bytes(data)
    rec = ingest(path)
    assert rec.mime.startswith("image/")
    assert rec.error_reason == reason


def test_exif_values_are_json_ready() -> None:
    assert imagemod.json_value(IFDRational(1, 0)) is None
    assert imagemod.json_value(b"\x00\x01\xff") == "hex:0001ff"
    assert imagemod.json_value(b"Canon\x00\x00") == "Canon"
    assert imagemod.json_value(b"\xff" * 1000).endswith("...(1000 bytes)")
    assert imagemod.json_value((IFDRational(1, 2), 3)) == [0.5, 3]
    assert imagemod.exif_date_iso("2017:05:04 12:00:00", "5", "-03:00") == "2017-05-04T12:00:00.5-03:00"
    assert imagemod.exif_date_iso("    :  :     :  :  ") is None


def test_corpus_images() -> None:
    root = shared_corpus("ingest")
    engine = Engine(default_registry(), Limits())
    md = list(engine.ingest_file(root, "regression_jpg.jpg"))[-1].metadata
    assert (md["width"], md["height"]) == (1350, 282)
    assert md["icc"]["description"] == "Display" and md["icc"]["copyright"] == "Copyright Apple Inc., 2024"
    assert md["exif"]["exif"]["UserComment"] == "Screenshot"
    md = list(engine.ingest_file(root, "regression_webp.webp"))[-1].metadata
    assert (md["format"], md["width"], md["height"]) == ("WEBP", 1350, 282)
    md = list(engine.ingest_file(root, "regression_gif.gif"))[-1].metadata
    assert md["frames"] == 8 and md["info"]["version"] == "GIF87a"
    md = list(engine.ingest_file(root, "regression_openjpeg.jp2"))[-1].metadata
    assert md["format"] == "JPEG2000" and md["info"]["comment"] == "Kakadu-v5.2.1"
    rec = list(engine.ingest_file(root, "hello_world_tiff.tif"))[-1]
    assert rec.error is None and (rec.metadata["width"], rec.metadata["height"]) == (819, 460)
    assert rec.metadata["exif"]["ifd0"]["StripOffsets"] == "<154 values>"  # layout tags: size only


# --- the EXIF thumbnail against the picture ----------------------------------------------------------

def scene(seed: int, size: tuple[int, int] = (600, 400)) -> Image.Image:
    """A deterministic picture: a sky, a block and dots; another seed draws another scene."""
    import random
    from PIL import ImageDraw
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randint(60, 200), rng.randint(60, 200), rng.randint(60, 200)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(6):
        x, y = rng.randint(0, w), rng.randint(0, h)
        draw.rectangle((x, y, x + rng.randint(w // 8, w // 2), y + rng.randint(h // 8, h // 2)),
                       fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
    return img


def letterboxed(img: Image.Image, box: tuple[int, int] = (160, 120)) -> Image.Image:
    small = img.copy()
    small.thumbnail(box)
    out = Image.new("RGB", box, "black")
    out.paste(small, ((box[0] - small.size[0]) // 2, (box[1] - small.size[1]) // 2))
    return out


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, **kw)
    return buf.getvalue()


def ifd(entries: list[tuple[int, int, object]], at: int, next_at: int) -> bytes:
    """One little-endian IFD at offset `at`: ASCII (2), SHORT (3) or LONG (4) values, long ones after it."""
    data_at = at + 2 + 12 * len(entries) + 4
    head, data = struct.pack("<H", len(entries)), b""
    for tag, kind, value in sorted(entries, key=lambda e: e[0]):
        if kind == 2:
            raw = str(value).encode() + b"\x00"
            head += struct.pack("<HHII", tag, 2, len(raw), data_at + len(data))
            data += raw + b"\x00" * (len(raw) & 1)
        elif kind == 3:
            head += struct.pack("<HHIH2x", tag, 3, 1, value)
        else:
            head += struct.pack("<HHII", tag, 4, 1, value)
    return head + struct.pack("<I", next_at) + data


def camera_block(thumb: bytes, ifd0: dict[int, str], exif: dict[int, str], orientation: int = 1) -> bytes:
    """An APP1 EXIF block: IFD0 (text tags, Orientation, Exif pointer) -> Exif IFD -> IFD1 -> thumbnail."""
    zero = [(t, 2, v) for t, v in ifd0.items()] + [(0x0112, 3, orientation), (0x8769, 4, 0)]
    exif_at = 8 + len(ifd(zero, 8, 0))
    sub = ifd([(t, 2, v) for t, v in exif.items()], exif_at, 0)
    ifd1_at = exif_at + len(sub)
    thumb_at = ifd1_at + 2 + 3 * 12 + 4
    first = ifd(zero[:-1] + [(0x8769, 4, exif_at)], 8, ifd1_at)
    one = ifd([(0x0103, 3, 6), (0x0201, 4, thumb_at), (0x0202, 4, len(thumb))], ifd1_at, 0)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + first + sub + one + thumb


CAMERA = {0x010F: "Canon", 0x0110: "Canon EOS 80D", 0x0131: "Firmware Version 1.0.2",
          0x0132: "2017:04:20 10:15:03"}
TAKEN = {0x9003: "2017:04:20 10:15:03", 0x9004: "2017:04:20 10:15:03"}


def camera_jpeg(main: Image.Image, thumb: Image.Image, ifd0: dict[int, str] | None = None,
                orientation: int = 1) -> bytes:
    return jpeg_bytes(main, exif=camera_block(jpeg_bytes(thumb), ifd0 or CAMERA, TAKEN, orientation))


def test_thumbnail_of_the_same_frame_is_close(tmp_path: Path) -> None:
    img = scene(1)
    md = read(camera_jpeg(img, letterboxed(img)))  # 3:2 picture, 4:3 thumbnail with black bars
    t = md["thumbnail"]
    assert t["dhash_distance"] <= 4 and t["mean_abs_diff"] < 6, t
    assert len(t["dhash"]) == 16 and md["camera_make"] == "Canon"
    # a thumbnail in the displayed orientation (the picture stored sideways, Orientation 6) is the same frame
    md = read(camera_jpeg(img.transpose(Image.Transpose.ROTATE_90), letterboxed(img), orientation=6))
    assert md["thumbnail"]["dhash_distance"] <= 4 and md["thumbnail"]["fit"].startswith("displayed")


def test_thumbnail_of_another_picture_is_far(tmp_path: Path) -> None:
    md = read(camera_jpeg(scene(2), letterboxed(scene(1))))
    t = md["thumbnail"]
    assert t["dhash_distance"] >= 12 and t["mean_abs_diff"] >= 16, t


def test_decompression_bomb_is_a_note_not_a_decode() -> None:
    data = bytearray(camera_jpeg(scene(1, (64, 48)), scene(1, (16, 12))))
    sof = data.rfind(b"\xff\xc0")  # the main image's frame header comes after the thumbnail's
    struct.pack_into(">HH", data, sof + 5, 60_000, 60_000)
    md = read(bytes(data))
    assert (md["width"], md["height"]) == (60_000, 60_000)
    assert "dhash_distance" not in md["thumbnail"]
    assert "compare_error" in md["thumbnail"] and "60000" in md["thumbnail"]["compare_error"]
