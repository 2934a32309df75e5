"""Contact sheets: rows of images side by side (gray | ours | original), for eyes rather than metrics."""
from PIL import Image, ImageDraw


def contact_sheet(rows: list[list[Image.Image]], height: int = 192, gap: int = 4,
                  titles: tuple[str, ...] = ()) -> Image.Image:
    """Each row's images are scaled to the same height and laid side by side, at the width of the widest row."""
    scaled = [[im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height)) for im in row]
              for row in rows]
    top = 18 if titles else 0
    width = max(sum(im.width for im in row) + gap * (len(row) - 1) for row in scaled)
    sheet = Image.new("RGB", (width, top + len(scaled) * (height + gap) - gap), "white")
    draw = ImageDraw.Draw(sheet)
    if titles:  # the titles name the columns of the first row
        x = 0
        for title, im in zip(titles, scaled[0]):
            draw.text((x + 4, 3), title, fill="black")
            x += im.width + gap
    for r, row in enumerate(scaled):
        x = 0
        for im in row:
            sheet.paste(im, (x, top + r * (height + gap)))
            x += im.width + gap
    return sheet
