"""Plain-text tables for the command line and summaries (no TensorFlow import)."""


def format_table(rows: list[tuple], headers: tuple) -> str:
    """Left-aligned columns two spaces apart, with a dashed rule under the headers."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]

    def line(row):
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()

    return "\n".join([line(headers), line(tuple("-" * w for w in widths)), *map(line, rows)])
