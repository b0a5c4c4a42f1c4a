"""Encrypted OOXML: what the EncryptionInfo stream says of the cipher (agile or standard encryption)."""

from __future__ import annotations

import io
import struct
from typing import Any

import defusedxml
import defusedxml.ElementTree as DET

from ..base import MiB


def agile_details(xml: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        for _, elem in DET.iterparse(io.BytesIO(xml[:1 * MiB]), events=("end",)):
            name = elem.tag.rsplit("}", 1)[-1]
            if name == "keyData":
                out["cipher"] = elem.get("cipherAlgorithm")
                out["chaining"] = elem.get("cipherChaining")
                out["hash"] = elem.get("hashAlgorithm")
                out["key_bits"] = elem.get("keyBits")
            elif name == "encryptedKey" and elem.get("spinCount"):
                out["spin_count"] = elem.get("spinCount")
                out["password_hash"] = elem.get("hashAlgorithm")
    except (defusedxml.DefusedXmlException, DET.ParseError, ValueError) as e:
        out["xml_error"] = f"{type(e).__name__}: {e}"
    return out


ALG_IDS = {0x6801: "RC4", 0x660E: "AES-128", 0x660F: "AES-192", 0x6610: "AES-256", 0x8004: "SHA-1"}


def standard_details(info: bytes) -> dict[str, Any]:
    if len(info) < 12 + 32:
        return {}
    flags, _extra, alg, alg_hash, key_bits, provider = struct.unpack_from("<IIIIII", info, 12)
    header_size = struct.unpack_from("<I", info, 8)[0]
    csp = info[12 + 32: 12 + min(header_size, 4096)].decode("utf-16-le", "replace").split("\x00", 1)[0]
    return {"cipher": ALG_IDS.get(alg, hex(alg)), "hash": ALG_IDS.get(alg_hash, hex(alg_hash)),
            "key_bits": key_bits, "provider_type": provider, "csp_name": csp, "header_flags": flags}
