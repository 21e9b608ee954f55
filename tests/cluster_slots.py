"""cluster_slots.py - key slots and cluster layouts for the cluster-mode
shell tests (tests/cluster_redis.sh, tests/cluster_valkey.sh,
tests/bench/cluster.sh), independent of the library under test.

    keyslot(key)          CRC16 (XMODEM) of the key, or of its {hash tag},
                          modulo 16384, as Redis Cluster computes it
    Layout(path)          a layout file of tests/cluster_harness.sh
                          (ch_layout: MEMBER PORT ROLE SHARD NODE_ID SLOTS)
        .nodes            member -> dict(port, role, shard, id, ranges)
        .shards           shard -> dict(primary, replicas, ranges)
        .shard_of_slot(s) the shard serving slot s
"""


def _crc16_table():
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def keyslot(key):
    if isinstance(key, str):
        key = key.encode()
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


assert crc16(b"123456789") == 0x31C3
assert keyslot("{user1000}.following") == keyslot("user1000")
assert keyslot("foo{}{bar}") == crc16(b"foo{}{bar}") % 16384


def parse_ranges(text):
    out = []
    if text in ("-", ""):
        return out
    for r in text.split(","):
        a, _, b = r.partition("-")
        out.append((int(a), int(b or a)))
    return sorted(out)


class Layout:
    def __init__(self, path):
        self.nodes = {}
        self.shards = {}
        for line in open(path):
            f = line.split()
            if len(f) < 6:
                continue
            member, port, role, shard, nid, slots = f[:6]
            shard = int(shard)
            self.nodes[member] = dict(port=int(port), role=role, shard=shard,
                                      id=nid, ranges=parse_ranges(slots))
            sh = self.shards.setdefault(shard, dict(primary=None,
                                                    replicas=[], ranges=[]))
            if role == "primary":
                sh["primary"] = member
                sh["ranges"] = parse_ranges(slots)
            else:
                sh["replicas"].append(member)
        for sh in self.shards.values():
            sh["replicas"].sort(key=lambda m: (len(m), m))
        self._owner = [0] * 16384
        for s, sh in self.shards.items():
            for a, b in sh["ranges"]:
                for slot in range(a, b + 1):
                    self._owner[slot] = s

    def shard_of_slot(self, slot):
        return self._owner[slot]

    def shard_of_key(self, key):
        return self._owner[keyslot(key)]
