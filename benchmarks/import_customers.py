"""Benchmark: importing a customer book through the import service, against a no-framework floor.

    DATABASE_URL=postgres://user@host:5432/anydb \
        .venv/bin/python benchmarks/import_customers.py --n N

In a scratch database (created next to the one in DATABASE_URL, migrated, dropped afterwards):

* import: a CSV of N customers (default 100,000; name, e-mail, phone, address, national id,
  city, segment, customer-since), generated in memory, goes through
  ``customers.services.customer_import``: every row validated (e-mail, phone parsed by
  ``phonenumbers``, dates, duplicates in the file and against the database by blind index),
  one data key per customer, AES-GCM per encrypted field, blind indexes, history rows, one
  all-or-nothing transaction, the IMPORT audit event;
* floor: the same rows, with a data key each and the same fields encrypted with AES-GCM and
  the same blind-index HMACs, written with psycopg2's COPY into the same tables: no
  validation, no history, no framework. It does each thing once, as a hand-written program
  would: one AES-GCM context per key, one keyed HMAC context copied per index, the phone
  written in E.164 and indexed as such (not parsed again), rows streamed into COPY as they
  are made (the server inserts while the next rows are encrypted, as the import's chunks do).
  Its output is checked to read back through the models (decryption and blind-index search),
  so the floor is the same work.

Each phase runs in its own process; the import's peak memory is that process's maximum
resident set. The last line is

    RESULT rows=N rows_per_s=... floor_per_s=... ratio=floor/import peak_mb=...
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import connect, cpu_seconds, django_setup, run_phase, scratch_database

FIELDS = ["full_name", "email", "phone", "postal_address", "national_id"]


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇"]
_CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京"]


def _resident_id(body: str) -> str:
    """17 digits and their ISO 7064 MOD 11-2 check character (the import checks it)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


_BORN = datetime.date(1950, 1, 1)


def rows(n: int) -> list[list[str]]:
    """N distinct, valid customers (unique e-mails and id numbers, valid mobile numbers)."""
    out = []
    for i in range(n):
        city = _CITIES[i % len(_CITIES)]
        out.append(
            [
                f"B-{i:07d}",
                _SURNAMES[i % 20] + _GIVEN[(i // 20) % 12],
                f"customer{i}@mail.example.cn",
                f"138{i % 10**8:08d}",
                f"{city}市中山路{i % 999 + 1}号",
                # A real date of birth (the import checks it) and a sequence number.
                _resident_id(
                    f"110101{_BORN + datetime.timedelta(days=i // 1000):%Y%m%d}{i % 1000:03d}"
                ),
                city,
                ("零售", "会员", "企业")[i % 3],
                f"20{10 + i % 15}-0{1 + i % 9}-1{i % 9}",
            ]
        )
    return out


HEADER = ["客户编号", "姓名", "邮箱", "手机", "地址", "身份证号", "城市", "客户类型", "注册日期"]


def prepare(url: str) -> None:
    django_setup(url)
    from django.core.management import call_command

    from customers.models import Organization

    call_command("migrate", verbosity=0)
    for slug in ("bench-import", "bench-floor"):
        Organization.objects.create(slug=slug, legal_name=slug, kind="seller", country="CN")


def run_import(url: str, n: int) -> dict[str, Any]:
    django_setup(url)
    from customers.models import Customer, Organization
    from customers.services import customer_import

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows(n))
    data = buffer.getvalue().encode("utf-8")
    del buffer
    organization = Organization.objects.get(slug="bench-import")
    cpu = CpuClock(_django_backend_pid())
    started = time.perf_counter()
    outcome = customer_import(actor=None, organization=organization, data=data)
    seconds = time.perf_counter() - started
    python_cpu, postgres_cpu = cpu.read()
    if not outcome.applied or outcome.customers != n:
        raise SystemExit(f"import failed: {outcome.problems[:5]}")
    assert Customer.objects.filter(organization=organization).count() == n
    return {"seconds": seconds, "python_cpu": python_cpu, "postgres_cpu": postgres_cpu}


def _django_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


class CpuClock:
    """CPU seconds spent by this process (all threads) and by one PostgreSQL backend since
    it was made: what a run costs, whatever else the machine was doing meanwhile."""

    def __init__(self, backend_pid: int) -> None:
        self.backend_pid = backend_pid
        self.python = self._own()
        self.postgres = cpu_seconds(backend_pid)

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def read(self) -> tuple[float, float | None]:
        postgres = cpu_seconds(self.backend_pid)
        return (
            self._own() - self.python,
            None if postgres is None or self.postgres is None else postgres - self.postgres,
        )


class Stream(io.TextIOBase):
    """The file COPY reads from, filled from ``lines`` as it is read: rows are encrypted
    while the server inserts the ones before, as a hand-written streaming program does, and
    no copy of the whole book is held in memory."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._rest = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        parts, length = [self._rest], len(self._rest)
        while size is None or size < 0 or length < size:
            line = next(self._lines, None)
            if line is None:
                break
            parts.append(line)
            length += len(line)
        text = "".join(parts)
        if size is None or size < 0:
            self._rest = ""
            return text
        self._rest = text[size:]
        return text[:size]


def run_floor(url: str, n: int) -> dict[str, Any]:
    """The same rows encrypted (data key per row, AES-GCM, blind-index HMACs) and COPY-ed."""
    django_setup(url)
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django.conf import settings
    from django.utils import timezone

    from customers.models import Customer, Organization
    from customers.selectors import customer_find_by_email, customer_find_by_phone
    from transferdesk.crypto import aead, blind_index
    from transferdesk.crypto.keyring import decode_key, get_keyring

    organization = Organization.objects.get(slug="bench-floor")
    keyring = get_keyring()
    master, master_id = AESGCM(keyring.active_key()), keyring.active_id
    keyed = hmac.HMAC(
        decode_key(settings.TRANSFERDESK_BLIND_INDEX_KEY.strip(), what="blind index key"),
        hashes.SHA256(),
    )
    version = bytes([aead.VERSION])

    def seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> str:
        nonce = os.urandom(aead.NONCE_BYTES)
        return (version + nonce + cipher.encrypt(nonce, plaintext, aad)).hex()

    def index(kind: str, normalised: str) -> str:
        mac = keyed.copy()
        mac.update(f"{kind}\x00{normalised}".encode())
        return mac.finalize().hex()

    data = rows(n)
    now = timezone.now().isoformat()
    organization_id = str(organization.pk)
    connection = connect(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        cpu = CpuClock(int(cursor.fetchone()[0]))
    started = time.perf_counter()
    keys = [(uuid.uuid4(), os.urandom(32)) for _ in data]

    def key_lines() -> Iterator[str]:
        for key_id, raw in keys:
            wrapped = seal(master, raw, f"transferdesk.DataKey|{key_id}|{master_id}".encode())
            yield f"{key_id}\tcustomer\t{master_id}\t\\\\x{wrapped}\t{now}\n"

    def customer_lines() -> Iterator[str]:
        for row, (key_id, raw) in zip(data, keys, strict=True):
            customer_id = uuid.uuid4()
            values = [row[1], row[2], "+86" + row[3], row[4], row[5]]
            cipher = AESGCM(raw)
            encrypted = [
                seal(cipher, value.encode(), f"customers.Customer|{name}|{customer_id}".encode())
                for name, value in zip(FIELDS, values, strict=True)
            ]
            yield (
                "\t".join(
                    [
                        str(customer_id),
                        organization_id,
                        row[0],
                        str(key_id),
                        row[7],
                        row[6],
                        "active",
                        "",
                        "",
                        "",
                        "",
                        "",
                        *(f"\\\\x{value}" for value in encrypted),
                        index(blind_index.EMAIL, values[1].lower()),
                        index(blind_index.PHONE, values[2]),
                        index(blind_index.NATIONAL_ID, values[4].upper()),
                        now,
                        now,
                    ]
                )
                + "\n"
            )

    with connection, connection.cursor() as cursor:
        cursor.copy_expert(
            "COPY transferdesk_datakey (id, purpose, master_key_id, wrapped_key, created_at) "
            "FROM STDIN",
            Stream(key_lines()),
        )
        cursor.copy_expert(
            "COPY customers_customer (id, organization_id, reference, data_key_id, segment, "
            "city, status, region, country, preferred_language, legal_basis, collection_purpose, "
            f"{', '.join(FIELDS)}, email_bidx, phone_bidx, national_id_bidx, "
            "created_at, updated_at) FROM STDIN",
            Stream(customer_lines()),
        )
    seconds = time.perf_counter() - started
    python_cpu, postgres_cpu = cpu.read()
    connection.close()
    # The floor did the same work only if what it wrote reads back through the models.
    last = data[-1]
    found = customer_find_by_email(organization=organization, email=last[2].upper())
    assert found is not None and found.full_name == last[1] and found.national_id == last[5]
    assert customer_find_by_phone(organization=organization, phone=last[3]) == found
    assert Customer.objects.filter(organization=organization).count() == n
    return {"seconds": seconds, "python_cpu": python_cpu, "postgres_cpu": postgres_cpu}


def child(url: str, phase: str, n: int) -> dict[str, Any]:
    return run_phase(__file__, url, phase, "--n", str(n))


def _cpu_line(result: dict[str, Any], n: int) -> str:
    postgres = result.get("postgres_cpu")
    return f"CPU per row: python {1e6 * result['python_cpu'] / n:.0f} µs, postgres " + (
        "n/a" if postgres is None else f"{1e6 * postgres / n:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="customers to import")
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["prepare", "import", "floor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "prepare":
        prepare(args.url)
        print("{}")
        return
    if args.phase in ("import", "floor"):
        result = (run_import if args.phase == "import" else run_floor)(args.url, args.n)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    base_url = os.environ.get("DATABASE_URL", "")
    load_before = os.getloadavg()[0]
    with scratch_database(base_url, "td_bench_import") as url:
        child(url, "prepare", args.n)
        imported = child(url, "import", args.n)
        floor = child(url, "floor", args.n)
    load_after = os.getloadavg()[0]
    rate = args.n / imported["seconds"]
    floor_rate = args.n / floor["seconds"]
    print(
        f"import: {args.n} rows in {imported['seconds']:.1f} s, {rate:.0f} rows/s, "
        f"peak {imported['peak_mb']:.0f} MB; {_cpu_line(imported, args.n)}"
    )
    print(
        f"floor:  {args.n} rows in {floor['seconds']:.1f} s, {floor_rate:.0f} rows/s; "
        f"{_cpu_line(floor, args.n)}"
    )
    # Rates depend on what else the machine runs; CPU per row does much less.
    print(
        f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after, "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"RESULT rows={args.n} rows_per_s={rate:.0f} floor_per_s={floor_rate:.0f} "
        f"ratio={floor_rate / rate:.2f} peak_mb={imported['peak_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
