"""Personal-identifier scan of free texts (SPEC §3, §14): NIR with a valid key, French phone, e-mail."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pv_service.i18n import translate
from pv_service.rules.personal_identifiers import (
    find_personal_identifier,
    nir_key_is_valid,
    personal_identifier_errors,
    redact_personal_identifiers,
)


def nir_key(body13: str) -> str:
    """The SPEC's key, computed independently: 97 − (first 13 mod 97), 2A/2B read as 19/18."""
    digits = body13.upper().replace("2A", "19").replace("2B", "18")
    return f"{97 - int(digits) % 97:02d}"


def wrong_key(body13: str) -> str:
    return f"{int(nir_key(body13)) % 97 + 1:02d}"


# A man born in May 1970 in Loire-Atlantique (44), commune 109, order 123.
NIR_BODY = "1700544109123"
NIR = NIR_BODY + nir_key(NIR_BODY)
SPACED_NIR = f"1 70 05 44 109 123 {nir_key(NIR_BODY)}"
CORSE_DU_SUD_BODY = "185052A012345"
HAUTE_CORSE_BODY = "292032B045678"
# A man born in May 1985 in Guadeloupe (971), commune 12, order 345: a 3-digit department, a 2-digit commune.
GUADELOUPE_BODY = "1850597112345"


def test_reference_keys_are_the_known_ones() -> None:
    # Guards the helper itself against a silent mistake.
    assert nir_key(NIR_BODY) == "70"
    assert nir_key(CORSE_DU_SUD_BODY) == "79"
    assert nir_key(HAUTE_CORSE_BODY) == "07"
    assert nir_key(GUADELOUPE_BODY) == "17"


def test_plain_nir_with_a_valid_key_is_found() -> None:
    assert find_personal_identifier(f"Patient NIR {NIR} vu en consultation") == "nir"


def test_spaced_nir_with_a_valid_key_is_found() -> None:
    assert find_personal_identifier(f"NIR : {SPACED_NIR}.") == "nir"


@pytest.mark.parametrize("separator", [".", "-"])
def test_nir_with_dots_or_hyphens_is_found(separator: str) -> None:
    assert find_personal_identifier(SPACED_NIR.replace(" ", separator)) == "nir"


def test_plain_nir_with_a_wrong_key_is_not_found() -> None:
    assert find_personal_identifier(f"Patient NIR {NIR_BODY}{wrong_key(NIR_BODY)} vu") is None


def test_spaced_nir_with_a_wrong_key_is_not_found() -> None:
    assert find_personal_identifier(f"NIR : 1 70 05 44 109 123 {wrong_key(NIR_BODY)}") is None


@pytest.mark.parametrize("body", [CORSE_DU_SUD_BODY, HAUTE_CORSE_BODY])
def test_corsican_nir_with_a_valid_key_is_found(body: str) -> None:
    assert find_personal_identifier(f"né en Corse, NIR {body}{nir_key(body)}") == "nir"
    spaced = f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {nir_key(body)}"
    assert find_personal_identifier(spaced) == "nir"


@pytest.mark.parametrize("body", [CORSE_DU_SUD_BODY, HAUTE_CORSE_BODY])
def test_corsican_nir_with_lowercase_department_letter_is_found(body: str) -> None:
    assert find_personal_identifier(body.lower() + nir_key(body)) == "nir"


def test_corse_du_sud_reads_19_and_haute_corse_reads_18_for_the_key() -> None:
    assert nir_key_is_valid(CORSE_DU_SUD_BODY, nir_key("1850519012345"))
    assert nir_key_is_valid(HAUTE_CORSE_BODY, nir_key("2920318045678"))
    # The key of the other Corsican department, or of "20", is wrong.
    assert not nir_key_is_valid(CORSE_DU_SUD_BODY, nir_key("1850518012345"))
    assert not nir_key_is_valid(CORSE_DU_SUD_BODY, nir_key("1850520012345"))
    assert not nir_key_is_valid(HAUTE_CORSE_BODY, nir_key("2920319045678"))


@pytest.mark.parametrize("body", [CORSE_DU_SUD_BODY, HAUTE_CORSE_BODY])
def test_corsican_nir_with_a_wrong_key_is_not_found(body: str) -> None:
    assert find_personal_identifier(f"NIR {body}{wrong_key(body)}") is None


@pytest.mark.parametrize(
    "body",
    [GUADELOUPE_BODY, "2920397405012", "1700198812301", "2991297601999"],
    ids=["guadeloupe", "reunion", "polynesie", "mayotte"],
)
def test_overseas_nir_with_its_3_digit_department_and_2_digit_commune_is_found(body: str) -> None:
    spaced = f"{body[0]} {body[1:3]} {body[3:5]} {body[5:8]} {body[8:10]} {body[10:13]} {nir_key(body)}"
    assert find_personal_identifier(f"né outre-mer, NIR {spaced}.") == "nir"
    assert find_personal_identifier(spaced.replace(" ", ".")) == "nir"
    assert find_personal_identifier(body + nir_key(body)) == "nir"


def test_overseas_nir_with_a_wrong_key_is_not_found() -> None:
    body = GUADELOUPE_BODY
    spaced = f"{body[0]} {body[1:3]} {body[3:5]} {body[5:8]} {body[8:10]} {body[10:13]} {wrong_key(body)}"
    assert find_personal_identifier(f"NIR {spaced}") is None


@pytest.mark.parametrize(
    "phone",
    [
        "0612345678",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "01 42 34 56 78",
        "09.87.65.43.21",
        "06/12/34/56/78",
        "01/42/34/56/78",
    ],
)
def test_french_phone_numbers_are_found(phone: str) -> None:
    assert find_personal_identifier(f"joignable au {phone} le matin") == "phone"


@pytest.mark.parametrize(
    "phone",
    [
        "+33612345678",
        "+33 6 12 34 56 78",
        "+33.6.12.34.56.78",
        "+33-1-42-34-56-78",
        "+33 (0)6 12 34 56 78",
        "+33 (0) 6 12 34 56 78",
        "+33(0)612345678",
        "0033 6 12 34 56 78",
        "0033612345678",
        "0033.1.42.34.56.78",
    ],
)
def test_international_french_phone_numbers_are_found(phone: str) -> None:
    assert find_personal_identifier(f"tél {phone}") == "phone"


@pytest.mark.parametrize(
    "text",
    [
        "00 12 34 56 78",
        "06 12 34 56",
        "+33 0 12 34 56 78",
        "+33 (0)0 12 34 56 78",
        "0033 0 12 34 56 78",
        "06/12/34/56",
        "06/12/34/56/78/90",
        "1/06/12/34/56/78",
        "06123456789",
        "00336123456789",
    ],
)
def test_numbers_that_are_not_french_phone_numbers_are_not_found(text: str) -> None:
    assert find_personal_identifier(text) is None


@pytest.mark.parametrize("email", ["jean.dupont@example.fr", "j-dupont+pv@chu-nantes.fr", "Marie_L@mail.example.com"])
def test_email_addresses_are_found(email: str) -> None:
    assert find_personal_identifier(f"contact : {email}, merci") == "email"


@pytest.mark.parametrize(
    "text",
    [
        "prégabaline 150 mg x2/j",
        "Début le 12/05/2022, fin le 2022-05-20",
        "lot L2203",
        "patient RC-000123",
        "médecin RPPS 10000000009",
        "RPPS 10003456789 et 10000000017",
        "THC 7,5 mg/j puis 10 mg/j, poids 62,0 kg, TA 12/8",
        "somnolence marquée le matin, régressive après réduction de dose",
        "5 mg 2x/j",
        "THC 2,5 mg 2x/j puis 0,5/1/0,5 ml",
        "12/05/2023",
        "du 01/02/2023 au 03/02/2023",
        "le 01/02/2023 12h30",
        "le 01.02.2023 12:30",
        "le 01-02-2023 06 h",
        "le 01 02 2023 12h",
        "lot 2203/0456/78",
        "lot 06-12-34-56",
        "lot A0612345678",
        "lot LB0612345678-2",
        "RPPS 01000000009",
        "RPPS 10000000009, ADELI 751234567",
        "",
    ],
)
def test_ordinary_clinical_text_is_not_flagged(text: str) -> None:
    assert find_personal_identifier(text) is None


def test_one_error_per_offending_field() -> None:
    errors = personal_identifier_errors(
        [
            ("narrative", f"NIR {NIR} et tél 06 12 34 56 78"),
            ("history", "diabète de type 2"),
            ("reactions[0].text", "somnolence"),
            ("reactions[1].text", "écrire à jean.dupont@example.fr"),
            ("concomitant_medicines[0]", "prégabaline 150 mg x2/j"),
            ("concomitant_medicines[1]", "appeler le +33 6 12 34 56 78"),
            ("concomitant_medicines[2]", None),
        ]
    )
    assert [(e.field, e.code) for e in errors] == [
        ("narrative", "personal_identifier"),
        ("reactions[1].text", "personal_identifier"),
        ("concomitant_medicines[1]", "personal_identifier"),
    ]


def test_no_error_for_clean_or_absent_texts() -> None:
    assert personal_identifier_errors([("narrative", "RAS"), ("history", None), ("reactions[0].text", "")]) == []


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        (f"NIR {NIR}", [NIR, NIR_BODY, nir_key(NIR_BODY) + " ", "544109"]),
        (SPACED_NIR, [SPACED_NIR, "109 123", NIR_BODY]),
        ("tél 06 12 34 56 78", ["06 12 34 56 78", "0612345678", "34 56"]),
        ("tél +33612345678", ["+33612345678", "612345678"]),
        ("tél +33 (0)6 12 34 56 78", ["+33 (0)6 12 34 56 78", "(0)", "612345678"]),
        ("tél 06/12/34/56/78", ["06/12/34/56/78", "/"]),
        ("écrire à jean.dupont@example.fr", ["jean.dupont@example.fr", "jean.dupont", "example.fr", "@"]),
    ],
)
def test_the_message_names_the_field_but_never_the_identifier(text: str, secrets: list[str]) -> None:
    [error] = personal_identifier_errors([("narrative", text)])
    assert error.field == "narrative"
    for message in (translate(error.message, "en"), translate(error.message, "fr")):
        assert "narrative" in message
        for secret in secrets:
            assert secret not in message
        assert not re.search(r"\d", message)


def test_redaction_replaces_each_identifier_by_its_kind_and_keeps_the_rest() -> None:
    text = f"IntegrityError: {SPACED_NIR}, tél +33 (0)6 12 34 56 78, jean.dupont@example.fr, lot L2203 le 01.02.2023"
    assert redact_personal_identifiers(text) == "IntegrityError: [nir], tél [phone], [email], lot L2203 le 01.02.2023"


def test_redaction_keeps_a_number_that_only_looks_like_a_nir() -> None:
    text = f"order {NIR_BODY}{wrong_key(NIR_BODY)}"
    assert redact_personal_identifiers(text) == text


# --- properties -----------------------------------------------------------------------------------------------


@st.composite
def valid_nirs(draw: st.DrawFn) -> str:
    sex = draw(st.sampled_from("12"))
    year = draw(st.integers(0, 99))
    month = draw(st.integers(1, 12))
    mainland = st.tuples(
        st.one_of(st.integers(1, 95).map(lambda d: f"{d:02d}"), st.sampled_from(["2A", "2B", "99"])),
        st.integers(1, 999).map(lambda c: f"{c:03d}"),
    )
    overseas = st.tuples(
        st.sampled_from([*range(971, 977), *range(984, 989)]).map(str), st.integers(1, 99).map(lambda c: f"{c:02d}")
    )
    department, commune = draw(st.one_of(mainland, overseas))
    order = draw(st.integers(1, 999))
    parts = [sex, f"{year:02d}", f"{month:02d}", department, commune, f"{order:03d}"]
    parts.append(nir_key("".join(parts)))
    separator = draw(st.sampled_from(["", " ", ".", "-"]))
    return separator.join(parts)


letters = st.text(alphabet=st.characters(categories=("L",)), max_size=40)
letters_and_spaces = st.text(alphabet=st.characters(categories=("L", "Zs")), max_size=200)


@given(nir=valid_nirs(), before=letters, after=letters)
def test_a_valid_nir_embedded_in_letters_is_always_found(nir: str, before: str, after: str) -> None:
    assert find_personal_identifier(f"{before} {nir} {after}") == "nir"


@given(nir=valid_nirs(), phone=st.deferred(lambda: french_phones()), before=letters, after=letters)
def test_nothing_identifying_is_left_after_redaction(nir: str, phone: str, before: str, after: str) -> None:
    assert find_personal_identifier(redact_personal_identifiers(f"{before} {nir} {phone} {after}")) is None


@given(text=letters_and_spaces)
def test_letters_and_spaces_are_never_flagged(text: str) -> None:
    assert find_personal_identifier(text) is None
    assert personal_identifier_errors([("narrative", text)]) == []


@st.composite
def french_phones(draw: st.DrawFn) -> str:
    digits = f"{draw(st.integers(1, 9))}{draw(st.integers(0, 99_999_999)):08d}"
    pairs = [digits[0], *(digits[i : i + 2] for i in range(1, 9, 2))]
    national = draw(st.sampled_from(["", " ", ".", "-", "/"])).join(["0" + pairs[0], *pairs[1:]])
    separator = draw(st.sampled_from(["", " ", ".", "-"]))
    prefix = draw(st.sampled_from(["+33", "0033", "+33 (0)", "+33(0)"]))
    international = prefix + separator + separator.join(pairs)
    return draw(st.sampled_from([national, international]))


@given(phone=french_phones(), before=letters, after=letters)
def test_a_french_phone_number_embedded_in_letters_is_always_found(phone: str, before: str, after: str) -> None:
    assert find_personal_identifier(f"{before} {phone} {after}") == "phone"


@given(
    day=st.integers(1, 31),
    month=st.integers(1, 12),
    year=st.integers(1990, 2030),
    separator=st.sampled_from(["/", ".", "-", " "]),
    hour=st.integers(0, 23),
)
def test_a_date_followed_by_an_hour_is_never_flagged(
    day: int, month: int, year: int, separator: str, hour: int
) -> None:
    date_text = separator.join([f"{day:02d}", f"{month:02d}", str(year)])
    assert find_personal_identifier(f"le {date_text} {hour:02d}h puis {date_text}") is None
