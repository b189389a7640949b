"""The email: trend lines as PNGs drawn where the values put them, without a browser; the
same bytes for the same content."""

import email
import email.policy
import io
from email.message import EmailMessage

from PIL import Image

from crmreport.report.email import SPARK_SIZE, spark_png, with_stable_boundaries, write_email
from crmreport.report.format import SUPPRESSED

RED = "#ff0000"


def _image(values):
    return Image.open(io.BytesIO(spark_png(values, RED))).convert("RGB")


def _red(pixel):
    r, g, b = pixel
    return r > 200 and g < 80 and b < 80


def test_a_rising_line_runs_from_bottom_left_to_the_marked_top_right():
    image = _image([0, 1])
    assert image.size == SPARK_SIZE == (240, 56)
    # the plot area is 9 px in from each edge: (9, 47) to (231, 9), midpoint (120, 28)
    assert _red(image.getpixel((9, 47))) and _red(image.getpixel((120, 28)))
    assert _red(image.getpixel((231, 9))) and _red(image.getpixel((227, 9)))  # the mark
    assert image.getpixel((120, 47)) == image.getpixel((2, 2)) == (255, 255, 255)


def test_a_hidden_value_leaves_a_gap():
    image = _image([0, SUPPRESSED, 0, 1])  # x at 9, 83, 157, 231
    assert image.getpixel((46, 47)) == (255, 255, 255)  # between the first two: no line
    assert _red(image.getpixel((157, 47))) and _red(image.getpixel((194, 28)))


def test_fewer_than_two_numbers_draw_nothing():
    assert spark_png([None, 5, SUPPRESSED], RED) is None


def test_the_same_values_give_the_same_bytes():
    assert spark_png([3, 1, 2], RED) == spark_png([3, 1, 2], RED)


def test_the_same_email_gives_the_same_bytes_and_parses_back_whole(tmp_path):
    paths = [tmp_path / "a.eml", tmp_path / "b.eml"]
    for path in paths:  # two messages built alike, as two runs would
        write_email(path, _message())
    first, second = (path.read_bytes() for path in paths)
    assert first == second
    parsed = email.message_from_bytes(first, policy=email.policy.default)
    assert all(not part.defects for part in parsed.walk())
    boundaries = [part.get_boundary() for part in parsed.walk() if part.is_multipart()]
    assert len(set(boundaries)) == 2  # alternative and related, each its own
    png = next(part for part in parsed.walk() if part.get_content_type() == "image/png")
    assert png.get_content() == spark_png([3, 1, 2], RED)
    assert parsed.get_body(("plain",)).get_content() == "Plain text\n"


def test_other_content_gives_other_boundaries():
    one, other = _message(), _message("Other text")
    assert with_stable_boundaries(one).get_boundary() != \
        with_stable_boundaries(other).get_boundary()


def _message(text="Plain text"):
    message = EmailMessage()
    message["Subject"] = "Report"
    message.set_content(text + "\n")
    message.add_alternative('<p><img src="cid:spark@x"></p>', subtype="html")
    html = message.get_body(("html",))
    html.add_related(spark_png([3, 1, 2], RED), "image", "png", cid="<spark@x>")
    return message
