"""Console passwords must not be guessable: zxcvbn's estimate, told who the account is.

Length and character classes alone accepted `Shandong2024`, `password12` and `qwerty1234`. zxcvbn
scores a password by the cheapest way to guess it (common-password lists, keyboard walks, years,
repeats, sequences) and, given the account's own words (username, the org's names, 山东 / shandong /
qilu / gonghui), treats them as the first guesses an attacker makes: `Shandong2024` scores 3 without
them and 1 with them. We require score >= 3 ("safely unguessable": about 10^8 guesses or more).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from zxcvbn import zxcvbn  # type: ignore[import-untyped]

from core.errors import BadInput

MIN_SCORE = 3
ZXCVBN_MAX = 72  # zxcvbn refuses longer input; characters beyond it only add strength
BASE_WORDS = ("山东", "shandong", "qilu", "齐鲁", "gonghui", "工会", "sdgh", "qiluhui", "sdzgh")
# Org names are Chinese; the Latin spellings of the cities are what ends up in passwords.
CITY_WORDS = (
    "jinan", "qingdao", "zibo", "zaozhuang", "dongying", "yantai", "weifang", "jining", "taian", "weihai",
    "rizhao", "linyi", "dezhou", "liaocheng", "binzhou", "heze", "laiwu",
)  # fmt: skip
_ORG_SUFFIX = re.compile(r"(省总工会|市总工会|总工会|工会|省|市|区|县)$")

# zxcvbn's pattern kinds, said the way an editor understands them.
REASONS = {
    "user_inputs": "包含用户名、单位名称或“山东”“齐鲁”“工会”等容易联想到的词",
    "passwords": "是常见密码或由常见密码稍加改动",
    "english_wikipedia": "主要由常见英文单词组成",
    "us_tv_and_film": "主要由常见英文单词组成",
    "english": "主要由常见英文单词组成",
    "surnames": "主要由常见姓名组成",
    "female_names": "主要由常见姓名组成",
    "male_names": "主要由常见姓名组成",
    "spatial": "含有键盘上相邻按键的序列（如 qwerty、asdf）",
    "repeat": "含有重复的字符或片段（如 aaa、abcabc）",
    "sequence": "含有连续的字母或数字（如 abcd、1234）",
    "regex": "含有年份",
    "date": "含有日期或年份",
}


def org_words(names: Iterable[str]) -> list[str]:
    """The org names as given and shortened (山东省总工会 -> 山东省总工会, 山东)."""
    out: list[str] = []
    for name in names:
        if name:
            out += [name, _ORG_SUFFIX.sub("", name)]
    return [w for w in dict.fromkeys(out) if w]


def _reason(result: dict[str, Any]) -> str:
    for match in result.get("sequence") or []:
        key = match.get("dictionary_name") if match.get("pattern") == "dictionary" else match.get("pattern")
        if key in REASONS:
            return REASONS[key]
    return "太短或太有规律"


def check(password: str, username: str = "", org_names: Sequence[str] = ()) -> None:
    """BadInput (code `password`, Chinese, saying why) unless the password is hard to guess for this account."""
    inputs = [username, *org_words(org_names), *BASE_WORDS, *CITY_WORDS]
    result = zxcvbn(password[:ZXCVBN_MAX], user_inputs=[w for w in inputs if w])
    if int(result["score"]) < MIN_SCORE:
        raise BadInput(
            f"密码太容易被猜到：{_reason(result)}。请换一个更长、没有规律的密码，例如几个不相关的词加数字和符号",
            code="password",
        )
