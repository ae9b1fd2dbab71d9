#!/usr/bin/env python3
"""Writes a small MaxMind-format database for the geo tests (mmdb-writer from PyPI).

127.1.0.0/16 is Berlin, Germany (city, region, country) so a test can prove only country and
region are kept; 127.2.0.0/16 is an IPv4 network with a country only; 2001:db8::/32 is Japan.
"""
import sys

from mmdb_writer import MMDBWriter
from netaddr import IPSet

out = sys.argv[1]
writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City",
                    languages=["en"], description="Footfall test geo database")
writer.insert_network(IPSet(["127.1.0.0/16"]), {
    "country": {"iso_code": "DE", "names": {"en": "Germany"}},
    "subdivisions": [{"iso_code": "BE", "names": {"en": "Land Berlin"}}],
    "city": {"names": {"en": "Berlin"}},
    "location": {"latitude": 52.52, "longitude": 13.40},
})
writer.insert_network(IPSet(["127.2.0.0/16"]), {"country": {"iso_code": "FR", "names": {"en": "France"}}})
writer.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "JP", "names": {"en": "Japan"}}})
writer.to_db_file(out)
