"""Reading single CSV cells: keys, amounts, scores, booleans, ids."""

from __future__ import annotations

import re
from functools import lru_cache


class CellError(ValueError):
    """A cell that cannot be read; the message says what it held."""


@lru_cache(maxsize=65536)  # picklist values repeat on every row
def norm_key(text: str) -> str:
    """The comparable form of a header, picklist value or mapping key.

    Exports spell the same thing as `Lead Status`, `LEAD STATUS` or the internal
    `hs_lead_status`/`BAD_TIMING`; case, underscores and runs of spaces don't matter.
    """
    return " ".join(text.replace("\ufeff", "").replace("_", " ").lower().split())


# Currency marks exports put around amounts: symbols and ISO codes.
_CURRENCY = re.compile(r"^(?:[A-Z]{3}\s*|[$€£¥])|(?:\s*[A-Z]{3}|\s*[$€£¥])$")
_GROUPED = {
    ",": re.compile(r"\d{1,3}(?:,\d{3})+"),  # 1,200,000
    ".": re.compile(r"\d{1,3}(?:\.\d{3})+"),  # 1.200.000 (German locale)
}


def parse_amount(text: str) -> float | None:
    """`12,500.00`, `$3000`, `EUR 1200`, `9000,00` → a number ≥ 0; blank → None.

    Locale exports swap the separators, so the last separator followed by one or
    two digits is the decimal mark and the other one groups thousands; a separator
    before exactly three digits groups thousands (`1,200` and `1.200` are 1200).
    """
    value = text.strip()
    if not value:
        return None
    bare = _CURRENCY.sub("", value).strip().replace("\u00a0", "").replace(" ", "")
    number = _number(bare)
    if number is None:
        raise CellError(f"amount {value!r} is not a number (write 12500.00 or 12,500.00)")
    if number < 0:
        raise CellError(f"amount {value!r} is negative")
    return number


def _number(text: str) -> float | None:
    if not text:
        return None
    sign = ""
    if text[:1] in "+-":
        sign, text = text[0], text[1:]
    whole, fraction = text, ""
    decimal = re.fullmatch(r"(.*?)([.,])(\d{1,2}|\d{4,})", text)
    if decimal and not (decimal[2] == "," and len(decimal[3]) >= 4):
        whole, fraction = decimal[1], decimal[3]
        separator = "." if decimal[2] == "," else ","
    else:
        separator = "," if "," in text else "."
    if whole.isdigit():
        digits = whole
    elif _GROUPED[separator].fullmatch(whole):
        digits = whole.replace(separator, "")
    else:
        return None
    return float(f"{sign}{digits}.{fraction or 0}")


def parse_score(text: str) -> tuple[int | None, bool]:
    """A score as the contract wants it (integer 0-100), and whether it was clamped.

    CRM scores are unbounded (HubSpot's can go below 0 and above 100); the ends of
    the contract's range are where such leads belong.
    """
    value = text.strip()
    if not value:
        return None, False
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        raise CellError(f"score {value!r} is not a number") from None
    rounded = round(number)
    clamped = min(100, max(0, rounded))
    return clamped, clamped != rounded


_TRUE = {"true", "1", "yes", "y", "t", "checked"}
_FALSE = {"false", "0", "no", "n", "f", "unchecked", ""}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CellError(f"{text!r} is neither true nor false")


_SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SF_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?")


def salesforce_id(text: str) -> str:
    """The 18-character form of a Salesforce id.

    Report exports write the case-sensitive 15-character id, the API and Data
    Loader the 18-character one; both name the same record, so joins use the long
    form. The suffix encodes which of the first 15 characters are upper case.
    """
    value = text.strip()
    if not _SF_ID.fullmatch(value):
        raise CellError(f"{value!r} is not a Salesforce id (15 or 18 letters and digits)")
    if len(value) == 18:
        return value
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(value[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SF_SUFFIX[bits]
    return value + suffix


def hubspot_ids(text: str) -> list[str]:
    """Record ids of a multi-value cell (`101;205`); HubSpot ids are digits."""
    ids = [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
    for record in ids:
        if not record.isdigit():
            raise CellError(f"{text.strip()!r} is not a list of record ids")
    return ids


def slug(text: str) -> str:
    """A source value nobody mapped, as a label: `Trade Show 2024` → `trade_show_2024`."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")[:64] or "unknown"
