from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from enrollment.idnumbers import convert_15_to_18, make_id_number, mask_id_number, parse_id_number


def test_valid_number_gives_birth_date_and_sex():
    parsed = parse_id_number("11010519491231002X")
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"
    assert parsed.converted_from == ""


def test_abolished_place_code_is_accepted():
    # Place codes get abolished and renumbered; only the check digit and birth date decide.
    number = make_id_number("999999", date(1980, 1, 1), 11)
    assert parse_id_number(number).number == number


def test_fifteen_digit_number_is_converted_and_recorded():
    parsed = parse_id_number("110105491231002")
    assert parsed.number == "11010519491231002X"
    assert parsed.converted_from == "110105491231002"
    assert convert_15_to_18("110105491231002") == "11010519491231002X"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("110105194912310021", "id_check_digit"),
        ("11010519491331002X", "id_birth_date"),
        ("1101051949123100", "id_length"),
        ("11010519491231002Y", "id_format"),
        ("", "id_length"),
    ],
)
def test_invalid_numbers_are_rejected_with_a_reason(raw, code):
    with pytest.raises(ValidationError) as excinfo:
        parse_id_number(raw)
    assert excinfo.value.code == code


def test_lowercase_x_and_spaces_are_normalised():
    assert parse_id_number(" 11010519491231002x ").number == "11010519491231002X"


def test_mask_keeps_four_and_four():
    assert mask_id_number("50010119800101123X") == "5001**********123X"


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)), st.integers(0, 999))
def test_generated_numbers_always_validate(birth, sequence):
    number = make_id_number("500101", birth, sequence)
    parsed = parse_id_number(number)
    assert parsed.birth_date == birth
    assert parsed.sex == ("M" if sequence % 2 else "F")


@pytest.mark.parametrize("raw", [
    "11010519491231002X", " 11010519491231002x ", "１１０１０５１９４９１２３１００２X", "11010519491231002X\n",
])
def test_spellings_of_one_number_give_the_same_number(raw):
    # Plain ASCII skips python-stdnum's per-character clean; other spellings still go through it.
    assert parse_id_number(raw).number == "11010519491231002X"


@given(st.text(alphabet="0123456789Xx １２", min_size=16, max_size=20))
def test_the_plain_path_agrees_with_stdnum_compact(raw):
    from stdnum.cn import ric

    def outcome(text):
        try:
            return parse_id_number(text).number
        except ValidationError as error:
            return error.code

    assert outcome(raw) == outcome(ric.compact(raw))
