"""Reading a delimited text file (CSV, TSV, semicolon) into numeric columns for the CLI.

NumPy's C reader (``np.loadtxt``) parses the numbers; this module only works out what it
needs to be told -- encoding, delimiter, decimal mark, header, which columns are numbers --
from a sample of the file, and turns every problem into one sentence naming the file, the
line and the column. It needs nothing beyond the package's own dependencies, so the command
works after a plain ``pip install sklearn-em``.
"""

import csv
import re
from dataclasses import dataclass, field
from itertools import chain, repeat

import numpy as np

# cells read as "no value" (compared case-insensitively), as R's and pandas' readers do
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
# candidate delimiters, in the order they win when several split every sampled line evenly:
# a semicolon file usually holds decimal commas, so ';' goes before ','
DELIMITERS = ("\t", ";", ",", "|")
# runs of spaces (and tabs) between fields, as R's read.table and NumPy's loadtxt default
WHITESPACE = " "
SAMPLE_ROWS = 1000
# the name of a first column without a name in the header: R's row names
ROW_NAMES = "(row names)"
MIN_ID_ROWS = 10
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_DECIMAL_POINT = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
# a line of a one-column file of decimal commas: a whole number, or one written with
# thousands points ('5.151,24': not read as a number, but no pair of fields either)
_WHOLE = re.compile(r"[+-]?\d+")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
# what R's write.table writes unquoted as a row name (1, 2, ... or kept after a subset) and
# as a whole number (no leading zero)
_R_ROW_NAME = re.compile(r"[1-9]\d*")
_R_WHOLE = re.compile(r"(?:0|[1-9]\d*)(?:[eE][+-]?\d+)?")


class InputError(Exception):
    """Bad input or arguments: reported as one line on stderr, exit status 2."""


@dataclass
class Table:
    """The columns of a delimited text file that a mixture is fitted to, and what was left out.

    ``values`` holds NaN where a cell was missing (an NA token or an empty cell).
    """

    values: np.ndarray
    columns: list[str]
    source: str
    line_numbers: np.ndarray
    ids: np.ndarray | None = None
    id_name: str | None = None
    dropped: list[str] = field(default_factory=list)  # text and empty columns, left out
    excluded: list[str] = field(default_factory=list)  # left out by --columns / --exclude
    id_like: list[str] = field(default_factory=list)  # numeric columns that look like a row ID
    notes: list[str] = field(default_factory=list)
    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"


# ---------------------------------------------------------------------- bytes -> text
def decode(data, source, encoding=None):
    """Text of a file's bytes: UTF-8 (with or without BOM), UTF-16 with a BOM, else cp1252.

    Returns the text and the name of the encoding used.
    """
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise InputError(f"--encoding: unknown encoding '{encoding}'") from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{source}: not readable as {encoding} (byte {exc.start}); try another --encoding"
            ) from None
        except UnicodeError as exc:  # (codecs such as punycode raise the base class)
            raise InputError(
                f"{source}: not readable as {encoding} ({exc}); try another --encoding"
            ) from None
    for name, marks in (
        ("utf-32", (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")),  # (before UTF-16's)
        ("utf-16", (b"\xff\xfe", b"\xfe\xff")),
    ):
        if data.startswith(marks):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{source}: starts as {name.upper()} (byte-order mark) but is not valid "
                    f"{name.upper()} (byte {exc.start}: {exc.reason}); try --encoding"
                ) from None
    if b"\x00" in data[:65536]:
        raise InputError(f"{source}: not a text file (it holds NUL bytes; expected CSV or TSV)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Windows' Latin-1 (what spreadsheets save as "CSV" in Western Europe); latin-1 itself for
    # the few bytes cp1252 leaves undefined. Either decodes any byte: the user is told which.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


# ---------------------------------------------------------------------- sniffing
def _split(lines, delimiter):
    """The fields of each line (one list per line: a quote left open ends with its line)."""
    if delimiter == WHITESPACE:
        # quoted fields, as R's write.table writes them ('"x y" 0.5'), are one field
        return [_spaced_fields(line) if '"' in line else line.split() for line in lines]
    return [[f.strip() for f in _fields(line, delimiter)] for line in lines]


def _spaced_fields(line):
    """The fields of a line between runs of spaces (or tabs), quotes understood where they
    pair up (a lone quote, as in '"Bob 1.5', is part of its cell, as it was before quotes
    were understood here)."""
    if line.count('"') % 2:
        return line.split()
    return next(
        csv.reader([line.replace("\t", " ").strip()], delimiter=" ", skipinitialspace=True), []
    )


def _fields(line, delimiter):
    return next(csv.reader([line], delimiter=delimiter), [])


def sniff_delimiter(sample):
    """The delimiter that splits every sampled line into the same number (> 1) of fields.

    Tab, semicolon, comma or bar; else runs of spaces (R's ``read.table``), else the most
    frequent of the four on the first line.
    """
    # a tab that splits every line evenly is the delimiter (a spreadsheet's tab-delimited
    # export, decimal commas and all: runs of spaces would merge an empty cell away)
    tabbed = {len(row) for row in _split(sample, "\t")}
    if len(tabbed) == 1 and tabbed.pop() > 1:
        return "\t"
    # numbers with decimal commas between runs of spaces ('1,5  2,5'): commas would split
    # each number in two (and leave the halves as numbers)
    spaced = _split(sample, WHITESPACE)
    cells = [cell for row in spaced[1:] or spaced for cell in row]
    if (
        len({len(row) for row in spaced}) == 1
        and len(spaced[0]) > 1
        and any(_DECIMAL_COMMA.fullmatch(c) for c in cells)
        and all(_DECIMAL_COMMA.fullmatch(c) or _is_number(c) or is_missing(c) for c in cells)
    ):
        return WHITESPACE
    for d in DELIMITERS + (WHITESPACE,):
        widths = {len(row) for row in _split(sample, d)}
        if len(widths) == 1 and widths.pop() > 1:
            return d
    # R's write.table: runs of spaces, and a header without a name for the row names
    below = {len(row) for row in spaced[1:]}
    if len(below) == 1 and len(spaced[0]) + 1 == below.pop() > 2:
        return WHITESPACE
    counts = {d: sample[0].count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _shown(cell):
    """A cell as a message shows it: control characters escaped (a form feed is no space)."""
    return cell if cell.isprintable() else repr(cell)[1:-1]


def is_missing(text):
    return text.lower() in MISSING


def _is_number(text):
    # what NumPy's reader reads: Python's float() also takes '1_0' and non-ASCII digits
    if not text.isascii() or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff_decimal(rows, delimiter, rest=()):
    """',' when the cells write decimals with a comma (and none with a point), else '.'.

    ``rest``: blocks of further rows (an iterable of lists of split rows), looked at only
    while ``rows`` show no decimal mark at all (whole numbers before the first fraction).
    """
    if delimiter == ",":
        return "."
    comma = point = False
    for block in chain((rows,), rest):  # (the further blocks are split only if asked for)
        for row in block:
            for cell in row:
                comma = comma or _DECIMAL_COMMA.fullmatch(cell) is not None
                point = point or _DECIMAL_POINT.fullmatch(cell) is not None
        if comma or point:
            break
    return "," if comma and not point else "."


# ---------------------------------------------------------------------- column choice
def resolve_column(spec, names, option, source):
    """Index of the column named ``spec`` (the only one of that name), or at 1-based
    position ``spec``."""
    if spec in names:
        if names.count(spec) > 1:
            raise InputError(
                f"{option}: {names.count(spec)} columns of {source} are named '{spec}'; "
                "give the one you mean by its position (1 = the first column)"
            )
        return names.index(spec)
    # (isdecimal, not isdigit: '²' is a digit that int() does not read)
    if spec.isascii() and spec.isdecimal() and 1 <= int(spec) <= len(names):
        return int(spec) - 1
    raise InputError(
        f"{option}: no column '{spec}' (the columns of {source} are: {', '.join(names)}; "
        f"or give positions 1-{len(names)})"
    )


def _column_list(text, names, option, source):
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise InputError(f"{option}: expected column names or positions, got '{text}'")
    return list(dict.fromkeys(resolve_column(s, names, option, source) for s in specs))


def looks_like_row_id(values, min_rows=MIN_ID_ROWS):
    """Unique, evenly increasing integers (1, 2, 3, ... or 1001, 1002, ...): a row number.

    At least ``min_rows`` of them (by default ``MIN_ID_ROWS``: in a handful of rows, a
    measurement can step evenly by chance).
    """
    if len(values) < min_rows or not np.all(np.isfinite(values)):
        return False
    if not np.array_equal(values, np.round(values)):
        return False
    steps = np.diff(values)
    return bool(steps[0] > 0 and np.all(steps == steps[0]))


# ---------------------------------------------------------------------- reading
def read_table(
    data, source, *, tab=False, encoding=None, columns=None, exclude=None, id_column=None
):
    """Parse the bytes of a delimited text file into the numeric columns to fit.

    Parameters
    ----------
    data : bytes
        The file's contents.
    source : str
        How to name the file in messages.
    tab : bool, default=False
        The file is tab-separated (a ``.tsv`` or ``.tab`` name); otherwise the delimiter
        (tab, semicolon, comma or bar) is detected.
    encoding : str, default=None
        The text encoding; default: UTF-8, else UTF-16 with a BOM, else cp1252.
    columns, exclude : str, default=None
        Comma-separated names or 1-based positions: fit only ``columns``, or every numeric
        column but ``exclude``.
    id_column : str, default=None
        A name or position: the column is kept as each row's identifier, not fitted.

    Returns
    -------
    table : Table

    Raises
    ------
    InputError
        With a one-line explanation of what is wrong with the file or the column options.
    """
    try:
        return _read_table(data, source, tab, encoding, columns, exclude, id_column)
    except csv.Error as exc:  # e.g. a field beyond csv's size limit: not a table
        raise InputError(f"{source}: a line cannot be split into fields ({exc})") from None


def _read_table(data, source, tab, encoding, columns, exclude, id_column):
    text, used = decode(data, source, encoding)
    # (only line ends: a tab ending the last line is an empty cell)
    lines, line_numbers = _content_lines(text.lstrip("\ufeff").rstrip("\r\n"), source)
    delimiter = "\t" if tab else sniff_delimiter(lines[:50])
    notes = []
    if delimiter == "," and not tab:
        delimiter, note = _one_column_of_decimal_commas(
            lines[: SAMPLE_ROWS + 1], line_numbers, id_column, source
        )
        notes += [note] if note else []
    sample = _split(lines[: SAMPLE_ROWS + 1], delimiter)
    decimal = sniff_decimal(sample[1:], delimiter, _blocks(lines, SAMPLE_ROWS + 1, delimiter))
    names = _header(sample, decimal)
    # columns whose header cell is empty: the index column R's write.csv ('""') and pandas'
    # to_csv (',a,b') write before the data's
    unnamed = set()
    if names is None:
        names = [f"x{j + 1}" for j in range(len(sample[0]))]
    else:
        unnamed = {j for j, cell in enumerate(sample[0]) if not cell.strip()}
        lines, line_numbers, sample = lines[1:], line_numbers[1:], sample[1:]
        if (
            sample
            and len(names) + 1 == len(sample[0])
            and all(len(r) == len(sample[0]) for r in sample)
            and not all(r[-1] == "" for r in sample)
        ):
            # one name fewer than the rows' fields: the first field is the row's name, as R's
            # write.table writes it (and read.table reads it), whatever the delimiter; an
            # empty last field in every row is rather a delimiter ending each data row (an
            # error below)
            names = [ROW_NAMES, *names]
            unnamed = {j + 1 for j in unnamed}
    if not lines:
        raise InputError(f"{source}: has a header line but no data rows")
    _check_widths(lines, line_numbers, delimiter, len(names), source)
    kinds, examples = _column_kinds(names, sample, line_numbers, decimal, source)
    empty = [j for j, kind in enumerate(kinds) if kind == "empty"]
    if empty and len(lines) > len(sample):
        # a column with no value in the sample may have some further down (a measurement
        # added later): those columns are judged on every row, not called empty
        rows = [[row[j] for j in empty] for row in _split(lines, delimiter)]
        later, found = _column_kinds([names[j] for j in empty], rows, line_numbers, decimal, source)
        for i, (j, kind) in enumerate(zip(empty, later)):
            kinds[j] = kind
            if i in found:
                examples[j] = found[i]
    if names[0] == ROW_NAMES:
        kinds[0] = "text"  # names, never fitted (--id 1 carries them into --out)
        examples.pop(0, None)  # (not data: no note on them)
    id_index = None if id_column is None else resolve_column(id_column, names, "--id", source)
    examples.pop(id_index, None)
    chosen, dropped, excluded = _choose_columns(
        names, kinds, examples, id_index, columns, exclude, source
    )

    values = _parse_numbers(lines, line_numbers, delimiter, decimal, chosen, names, source)
    id_like = []
    if columns is None:  # what the user named is fitted; otherwise row IDs are left out
        values, chosen, id_like = _without_row_ids(values, chosen, names, source, unnamed)
    ids = None
    if id_index is not None:
        ids = np.array([row[id_index] for row in _split(lines, delimiter)], dtype=object)

    if encoding is None and used not in ("utf-8", "utf-16"):
        notes.append(f"{source} is not UTF-8; read it as {used} (--encoding sets another)")
    if columns is None:  # (with --columns, the other columns are not the user's concern)
        for j, example in examples.items():
            if names[j] not in excluded:
                notes.append(f"left out column '{names[j]}': {_no_number(example)}")
    for name in id_like:
        notes.append(
            f"left out column '{name}': its unique, evenly increasing integers look like a row "
            f"ID (fit it with --columns, or carry it into --out with --id {name})"
        )
    return Table(
        values=values,
        columns=[names[j] for j in chosen],
        source=source,
        line_numbers=line_numbers,
        ids=ids,
        id_name=None if id_index is None else names[id_index],
        dropped=dropped,
        excluded=excluded,
        id_like=id_like,
        notes=notes,
        delimiter=delimiter,
        decimal=decimal,
        encoding=used,
    )


def _one_column_of_decimal_commas(lines, line_numbers, id_column, source):
    """The delimiter of a file that no delimiter splits but the comma, and a note.

    A spreadsheet saves one column of decimal commas with no delimiter at all ('a', '1,5',
    '2,25'): the comma split each number in two, and the header one name short then took
    the whole part for R's row names -- 1.5 read as 5, with no word. ';' (which no line
    holds: one column, decimal commas) when every line below the first is such a number
    (or a whole number, or missing), and ',' otherwise. Only when each line could also be
    R's unquoted row name and a whole number ('x', '1,5', '2,7') is there a note: read as
    one column, or as row names when they are 1, 2, ..., n (at least ``MIN_ID_ROWS`` of
    them: whole parts do not count up by one row after row by chance); ``--id 1`` says
    they are row names.
    """
    first, below = _split(lines[:1], ",")[0], lines[1:]
    if len(first) != 1 or not below or "," not in "".join(below):
        return ",", None
    # (each line whole, or quoted whole: csv would read R's '"1",5' as the cell '1,5')
    cells = [_unquoted(line.strip()) for line in below]
    if not all(_a_number_alone(cell) for cell in cells):
        return ",", None
    pairs = _split(below, ",")
    header = not is_missing(first[0]) and not _is_number(first[0].replace(",", "."))
    if not (
        header
        and all(
            len(r) == 2 and _R_ROW_NAME.fullmatch(r[0]) and _R_WHOLE.fullmatch(r[1]) for r in pairs
        )
        and len({r[0] for r in pairs}) == len(pairs)
    ):
        return ";", None  # no row names: one column
    if id_column in ("1", ROW_NAMES):
        return ",", None
    i = next(i for i, c in enumerate(cells) if "," in c)
    n, cell, value = line_numbers[i + 1], cells[i], float(cells[i].replace(",", "."))
    if len(pairs) >= MIN_ID_ROWS and [int(r[0]) for r in pairs] == list(range(1, len(pairs) + 1)):
        return ",", (
            f"read the field before the comma on each line of {source} as R's row names "
            f"(1 to {len(pairs)}; the header names one column fewer) and column "
            f"'{first[0]}' as whole numbers; were the commas decimal commas (line {n}: "
            f"'{cell}' as {value}), write the numbers with decimal points"
        )
    return ";", (
        f"read {source} as one column of numbers with decimal commas (line {n}: '{cell}' "
        f"as {value}); if the field before each comma is R's row names, say --id 1"
    )


def _a_number_alone(cell):
    """A cell of a one-column file of decimal commas (see _one_column_of_decimal_commas)."""
    return bool(
        is_missing(cell)
        or _DECIMAL_COMMA.fullmatch(cell)
        or _WHOLE.fullmatch(cell)
        or _GROUPED.fullmatch(cell)
    )


def _unquoted(cell):
    if len(cell) > 1 and cell[0] == cell[-1] == '"' and '"' not in cell[1:-1]:
        return cell[1:-1].strip()
    return cell


def _content_lines(text, source):
    """The lines that hold data (no blank or comment lines), and their line numbers."""
    # lines end at \n, \r\n or \r only (str.splitlines also breaks at form feeds, \x85 and
    # other separators, which would split a row in two)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not _may_skip_lines(text, lines):
        line_numbers = np.arange(1, len(lines) + 1)
    else:  # messages keep the file's own line numbers
        keep = [
            i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")
        ]
        lines = [lines[i] for i in keep]
        line_numbers = np.asarray(keep, dtype=np.int64) + 1
    if not lines:
        raise InputError(f"{source}: the file is empty")
    return lines, line_numbers


def _number_test(decimal):
    if decimal == ",":
        return lambda cell: _is_number(cell.replace(",", "."))
    return _is_number


def _header(sample, decimal):
    """The column names if the first row is a header: text above numbers, or only text."""
    number = _number_test(decimal)
    first_text = [not is_missing(s) and not number(s) for s in sample[0]]
    below = sample[1:]
    numbers_below = [
        bool(below) and all(j < len(r) and (is_missing(r[j]) or number(r[j])) for r in below)
        for j in range(len(sample[0]))
    ]
    # (a row of no numbers whose cells are all distinct is names, even names that read as
    # missing values: 'Na', sodium; a row of 'NA, NA' is a row without values)
    no_numbers = not any(number(s) for s in sample[0])
    distinct = len(set(sample[0])) == len(sample[0])
    if (
        all(first_text)
        or any(t and b for t, b in zip(first_text, numbers_below))
        or (no_numbers and distinct and any(numbers_below))
    ):
        return [name or f"x{j + 1}" for j, name in enumerate(sample[0])]
    return None


def _blocks(lines, start, delimiter, size=SAMPLE_ROWS):
    """The lines from ``start`` on, split, in blocks of ``size`` (made as they are asked)."""
    for i in range(start, len(lines), size):
        yield _split(lines[i : i + size], delimiter)


def _column_kinds(names, sample, line_numbers, decimal, source):
    """'number', 'text' or 'empty' for each column, from the sample.

    Also returns, for each text column (by index), its first cell and that cell's line
    number: what a message shows to say why the column is not read as numbers.

    The full read finds any exception after the sample. An empty column is what a
    delimiter at the end of every line makes.
    """
    number = _number_test(decimal)
    kinds, examples = [], {}
    for j, name in enumerate(names):
        present = [(n, r[j]) for n, r in zip(line_numbers, sample) if not is_missing(r[j])]
        ok = [number(s) for _, s in present]
        if not present:
            kinds.append("empty")
        elif not any(ok):
            kinds.append("text")
            examples[j] = present[0]
        elif not all(ok):
            n, bad = next((n, s) for (n, s), good in zip(present, ok) if not good)
            raise InputError(
                f"{source}: column '{name}' mixes numbers and text (line {n}: '{_shown(bad)}')"
            )
        else:
            kinds.append("number")
    return kinds, examples


def _no_number(example):
    """Why a text column is left out: 'no cell is a number (line 2: '5.151,24')'."""
    n, cell = example
    return f"no cell is a number (line {n}: '{_shown(cell)}')"


def _choose_columns(names, kinds, examples, id_index, columns, exclude, source):
    """Indices of the columns to fit, and the names of the text and the excluded ones.

    ``examples``: a cell of each text column, with its line number (see _column_kinds).
    """
    numeric = [j for j, kind in enumerate(kinds) if kind == "number" and j != id_index]
    if columns is not None:
        chosen = _column_list(columns, names, "--columns", source)
        if id_index in chosen:
            raise InputError(f"--columns: column '{names[id_index]}' is the --id column")
        not_numbers = [j for j in chosen if kinds[j] != "number"]
        if not_numbers:
            j = not_numbers[0]
            where = f" (line {examples[j][0]}: '{_shown(examples[j][1])}')" if j in examples else ""
            raise InputError(f"--columns: column '{names[j]}' of {source} holds no numbers{where}")
        excluded = [names[j] for j in numeric if j not in chosen]
    else:
        left_out = [] if exclude is None else _column_list(exclude, names, "--exclude", source)
        if id_index in left_out:
            raise InputError(f"--exclude: column '{names[id_index]}' is the --id column")
        chosen = [j for j in numeric if j not in left_out]
        excluded = [names[j] for j in left_out]
    dropped = [
        names[j] + (" (empty)" if kind == "empty" else "")
        for j, kind in enumerate(kinds)
        if kind != "number" and j != id_index and j not in chosen
    ]
    if not numeric and columns is None:
        # (a text column the user left out is no answer to why nothing is left)
        first = next((j for j in examples if j not in left_out), None)
        why = "" if first is None else f"; column '{names[first]}': {_no_number(examples[first])}"
        raise InputError(
            f"{source}: no numeric columns (non-numeric columns: {', '.join(dropped)}){why}"
            if dropped
            else f"{source}: no numeric data"
        )
    if not chosen:
        raise InputError(f"--exclude: leaves no column of {source} to fit")
    return chosen, dropped, excluded


def _without_row_ids(values, chosen, names, source, unnamed=()):
    """Leave out the columns that look like row IDs: a patient number is not a feature.

    ``unnamed``: the columns whose header cell is empty, as R's write.csv and pandas' to_csv
    head the row names or index they write first: those are row IDs from 2 rows on (R's
    write.csv of 5 rows had its row names 1..5 fitted as a column).
    """
    id_like = [
        c
        for c in range(len(chosen))
        if looks_like_row_id(values[:, c], 2 if chosen[c] in unnamed else MIN_ID_ROWS)
    ]
    if not id_like:
        return values, chosen, []
    if len(id_like) == len(chosen):
        only = names[chosen[id_like[0]]]
        raise InputError(
            f"{source}: the only numeric column left, '{only}', looks like a row ID "
            f"(unique, evenly increasing integers); to fit it anyway, say --columns {only}"
        )
    values = np.ascontiguousarray(np.delete(values, id_like, axis=1))
    kept = [j for c, j in enumerate(chosen) if c not in id_like]
    return values, kept, [names[chosen[c]] for c in id_like]


def _may_skip_lines(text, lines):
    """Whether ``lines`` may hold a blank or comment line; fast tests first."""
    if "#" in text or not all(lines):
        return True
    if " " in text or "\t" in text:  # perhaps a line of only spaces or tabs
        return any(not line.strip() for line in lines)
    return False


def _check_widths(lines, line_numbers, delimiter, width, source):
    """Every line has as many fields as the first; counted fast, confirmed by csv on doubt."""
    if delimiter == WHITESPACE:
        for n, row in zip(line_numbers, _split(lines, delimiter)):
            if len(row) != width:
                raise InputError(
                    f"{source}: line {n} has {len(row)} fields, but the first line has {width}"
                )
        return
    counts = np.fromiter(map(str.count, lines, repeat(delimiter)), dtype=np.int64, count=len(lines))
    quoted = np.fromiter(map(str.__contains__, lines, repeat('"')), dtype=bool, count=len(lines))
    doubtful = np.flatnonzero((counts != width - 1) | quoted)
    for i in doubtful:  # a quoted delimiter, or a real ragged line
        (row,) = _split([lines[i]], delimiter)
        if len(row) != width:
            raise InputError(
                f"{source}: line {line_numbers[i]} has {len(row)} fields, "
                f"but the first line has {width}"
            )


def _parse_numbers(lines, line_numbers, delimiter, decimal, chosen, names, source):
    """The chosen columns as a float64 array; missing cells become NaN."""
    file_lines, file_delimiter = lines, delimiter  # (what a message quotes)
    if delimiter == WHITESPACE and any('"' in line for line in lines):
        # quoted fields between spaces (R's write.table): NumPy's reader splits at every
        # space, so the fields are split here and handed over between tabs
        # (the fields are unquoted already; a lone quote left in a text cell is dropped, so
        # that NumPy's reader does not take it for an opening one)
        lines = ["\t".join(f.replace('"', "") for f in _spaced_fields(line)) for line in lines]
        delimiter = "\t"
    if decimal == ",":
        lines = [line.replace(",", ".") for line in lines]
    try:
        return _loadtxt(lines, delimiter, chosen)
    except ValueError:
        pass
    # Missing cells: NumPy reads 'nan' but not the other NA tokens nor an empty cell, so
    # they are written as 'nan' -- the slow path, taken only for files that hold them.
    tokens = "|".join(re.escape(t) for t in sorted(MISSING - {""}))
    if delimiter == WHITESPACE:  # no empty cells here: a token between spaces
        pattern = re.compile(rf"(?<!\S)(?:{tokens})(?!\S)", re.IGNORECASE)
    else:
        d = re.escape(delimiter)
        # spaces around the cell, but not the delimiter itself (a tab); quotes in pairs only
        # (a lone quote opens a text cell: taking it would split that cell in two)
        ws = "[ ]*" if delimiter == "\t" else "[ \t]*"
        pattern = re.compile(
            rf'(?:(?<={d})|^){ws}(?:"(?:{tokens})?"|(?:{tokens})?){ws}(?={d}|$)', re.IGNORECASE
        )
    lines = [pattern.sub("nan", line) for line in lines]
    try:
        return _loadtxt(lines, delimiter, chosen)
    except ValueError:
        pass
    # a cell that is neither a number nor missing, after the sampled rows: find it to say so,
    # as the file writes it (not with the decimal commas made points above)
    number = _number_test(decimal)
    for n, row in zip(line_numbers, _split(file_lines, file_delimiter)):
        for j in chosen:
            if not is_missing(row[j]) and not number(row[j]):
                raise InputError(
                    f"{source}: column '{names[j]}' mixes numbers and text "
                    f"(line {n}: '{_shown(row[j])}')"
                )
    raise InputError(f"{source}: cannot read the numbers")  # not reached for a valid table


def _loadtxt(lines, delimiter, chosen):
    # comment lines are gone already; a '#' left is in a cell (comments=None)
    if delimiter == WHITESPACE:  # NumPy's None: runs of whitespace
        return np.loadtxt(lines, usecols=chosen, dtype=np.float64, ndmin=2, comments=None)
    return np.loadtxt(
        lines,
        delimiter=delimiter,
        usecols=chosen,
        quotechar='"',
        dtype=np.float64,
        ndmin=2,
        comments=None,
    )
