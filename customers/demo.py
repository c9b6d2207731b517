"""The demo customer book of Meridian (the seller in ``seed_demo``): 300 realistic customers,
Chinese and English, with a purchase and an interaction each, imported through the same
import service as any seller's file (so the demo exercises validation, encryption, history and
the IMPORT event), and the demo brokers' organisation permissions.

Deterministic (a fixed random seed) and idempotent: a book that already holds the demo
customers is left as it is.
"""

from __future__ import annotations

import csv
import datetime
import io
import random
from typing import Any

from .models import Customer, Organization
from .services import customer_import, organization_grant

DEMO_CUSTOMERS = 300
REFERENCE_PREFIX = "MRD-"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "晓东",
    "雪梅",
    "子涵",
]
_PINYIN = {
    "王": "wang",
    "李": "li",
    "张": "zhang",
    "刘": "liu",
    "陈": "chen",
    "杨": "yang",
    "黄": "huang",
    "赵": "zhao",
    "吴": "wu",
    "周": "zhou",
    "徐": "xu",
    "孙": "sun",
    "马": "ma",
    "朱": "zhu",
    "胡": "hu",
    "郭": "guo",
    "何": "he",
    "高": "gao",
    "林": "lin",
    "罗": "luo",
}
_EN_FIRST = [
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Jack",
    "Mia",
    "Noah",
    "Emily",
    "Leo",
    "Grace",
    "Arthur",
    "Sophie",
    "Oscar",
    "Lily",
]
_EN_LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Walker",
    "Evans",
]
_CITIES = [
    ("上海", "上海市", "浦东新区世纪大道{n}号"),
    ("北京", "北京市", "朝阳区建国路{n}号"),
    ("广州", "广东省", "天河区体育西路{n}号"),
    ("深圳", "广东省", "南山区科技园路{n}号"),
    ("杭州", "浙江省", "西湖区文三路{n}号"),
    ("成都", "四川省", "锦江区春熙路{n}号"),
    ("武汉", "湖北省", "江汉区解放大道{n}号"),
    ("南京", "江苏省", "鼓楼区中山路{n}号"),
]
_PRODUCTS = [
    ("洗衣机 Washer W8", 2999),
    ("冰箱 Fridge F500", 4599),
    ("空调 Air conditioner A35", 3899),
    ("电饭煲 Rice cooker R2", 499),
    ("吸尘器 Vacuum V7", 1299),
    ("延保服务 Extended warranty", 399),
]
_MOBILE_PREFIXES = ["135", "136", "137", "138", "139", "150", "151", "159", "186", "188"]
_CHANNELS = ["phone", "email", "chat", "in_person"]
_SUMMARIES = [
    "询问保修条款",
    "预约上门安装",
    "Asked about the warranty",
    "投诉送货延误",
    "Requested an invoice copy",
    "咨询以旧换新",
]
_SEGMENTS = ["零售 Retail", "会员 Member", "企业 Business"]
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"


def _national_id(rng: random.Random, birth: datetime.date) -> str:
    """A well-formed (checksummed) resident id number of an invented person."""
    body = f"{rng.choice(['110101', '310115', '440106', '330106'])}{birth:%Y%m%d}"
    body += f"{rng.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def demo_rows(count: int = DEMO_CUSTOMERS) -> list[dict[str, Any]]:
    rng = random.Random(20260301)  # noqa: S311 - demo data, not security
    rows = []
    for n in range(1, count + 1):
        city, region, street = rng.choice(_CITIES)
        since = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randrange(3600))
        birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randrange(15000))
        if n % 4 == 0:  # about one in four is an English-speaking customer
            first, last = rng.choice(_EN_FIRST), rng.choice(_EN_LAST)
            name, email = f"{first} {last}", f"{first}.{last}{n}@mail.example".lower()
            language = "en"
        else:
            surname = rng.choice(_SURNAMES)
            name = surname + rng.choice(_GIVEN)
            email = f"{_PINYIN[surname]}{n:03d}@mail.example.cn"
            language = "zh-hans"
        product, price = rng.choice(_PRODUCTS)
        bought = since + datetime.timedelta(days=rng.randrange(1, 900))
        rows.append(
            {
                "客户编号": f"{REFERENCE_PREFIX}{n:05d}",
                "姓名": name,
                "手机": f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**8):08d}",
                "邮箱": email,
                "地址": f"{region}{city}{street.format(n=rng.randrange(1, 999))}",
                "身份证号": _national_id(rng, birth),
                "银行卡号": f"6222 {rng.randrange(10**4):04d} {rng.randrange(10**4):04d} "
                f"{rng.randrange(10**4):04d}",
                "城市": city,
                "地区": region,
                "国家": "CN",
                "客户类型": rng.choice(_SEGMENTS),
                "注册日期": since.isoformat(),
                "首选语言": language,
                "法律依据": rng.choice(["合同", "同意"]),
                "收集目的": "售后服务与会员权益",
                "购买日期": bought.isoformat(),
                "产品": product,
                "金额": f"{price + rng.randrange(0, 300)}.00",
                "币种": "CNY",
                "渠道": rng.choice(_CHANNELS),
                "互动日期": (bought + datetime.timedelta(days=rng.randrange(1, 60))).isoformat(),
                "互动摘要": rng.choice(_SUMMARIES),
            }
        )
    return rows


def demo_file(count: int = DEMO_CUSTOMERS) -> bytes:
    """The demo book as a seller would export it: CSV, UTF-8 with BOM, Chinese headers."""
    rows = demo_rows(count)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def seed_customer_book(
    *, organization: Organization, brokers: dict[str, Any], actor: Any = None
) -> str:
    """Import the demo book into ``organization`` (once) and grant the demo brokers
    ``manage_customers`` (and ``reveal_core`` to ``broker``). Returns a summary line."""
    for username, user in brokers.items():
        permissions = ["manage_customers"]
        if username == "broker":
            permissions.append("reveal_core")
        for permission in permissions:
            organization_grant(
                actor=actor, user=user, organization=organization, permission=permission
            )
    existing = Customer.objects.filter(
        organization=organization, reference__startswith=REFERENCE_PREFIX
    ).count()
    if existing:
        return f"{existing} demo customers already there"
    outcome = customer_import(
        actor=actor, organization=organization, data=demo_file(), source="seed_demo"
    )
    if not outcome.applied:
        problems = "; ".join(f"row {p.row} {p.column}: {p.message}" for p in outcome.problems[:5])
        raise RuntimeError(f"the demo customer book did not import: {problems}")
    return f"{outcome.customers} demo customers imported"
