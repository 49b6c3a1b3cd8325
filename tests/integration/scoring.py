"""An independent implementation of cxd's score formulas, for checking the service.

Written from the formulas in the README, not from the C code.
"""
import math

Z = 1.959963984540054


def nps(values):
    n = len(values)
    if n == 0:
        return None
    pro = sum(1 for v in values if v >= 9)
    det = sum(1 for v in values if v <= 6)
    p, d = pro / n, det / n
    half = Z * math.sqrt(max(0.0, (p + d - (p - d) ** 2) / n))
    clamp = lambda x: max(-100.0, min(100.0, x))
    return {"score": 100 * (p - d), "promoters": pro, "passives": n - pro - det,
            "detractors": det, "n": n, "ci95": [clamp(100 * (p - d - half)), clamp(100 * (p - d + half))]}


def wilson(k, n):
    ph = k / n
    denom = 1 + Z * Z / n
    center = (ph + Z * Z / (2 * n)) / denom
    half = Z / denom * math.sqrt(ph * (1 - ph) / n + Z * Z / (4 * n * n))
    return [max(0.0, center - half) * 100, min(1.0, center + half) * 100]


def csat(values):
    n = len(values)
    if n == 0:
        return None
    k = sum(1 for v in values if v >= 4)
    return {"score": 100 * k / n, "mean": sum(values) / n, "satisfied": k, "n": n, "ci95": wilson(k, n)}


def ces(values):
    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    easy = sum(1 for v in values if v >= 5)
    ci = None
    if n >= 2:
        s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        ci = [mean - Z * s / math.sqrt(n), mean + Z * s / math.sqrt(n)]
    return {"mean": mean, "easy_pct": 100 * easy / n, "easy": easy, "n": n, "ci95": ci}


def group_scores(rows):
    return {"responses": len(rows),
            "nps": nps([r["nps"] for r in rows if r.get("nps") is not None]),
            "csat": csat([r["csat"] for r in rows if r.get("csat") is not None]),
            "ces": ces([r["ces"] for r in rows if r.get("ces") is not None])}


def close(a, b, tol=1e-3):
    """Deep comparison with a tolerance for floats (cxd rounds to 4 decimals)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= tol
    return a == b


def z_nps(a, b):
    """(score_a, score_b, z or None) for NPS answers a -> b, the README's test."""
    sa, sb = nps(a), nps(b)
    if not sa or not sb:
        return None

    def var(vals):
        n = len(vals)
        p = sum(1 for v in vals if v >= 9) / n
        d = sum(1 for v in vals if v <= 6) / n
        return 10000 * (p + d - (p - d) ** 2) / n
    se = math.sqrt(var(a) + var(b))
    return sa["score"], sb["score"], ((sb["score"] - sa["score"]) / se if se > 0 else None)


def z_csat(a, b):
    sa, sb = csat(a), csat(b)
    if not sa or not sb:
        return None
    p = (sa["satisfied"] + sb["satisfied"]) / (len(a) + len(b))
    se = 100 * math.sqrt(p * (1 - p) * (1 / len(a) + 1 / len(b)))
    return sa["score"], sb["score"], ((sb["score"] - sa["score"]) / se if se > 0 else None)
