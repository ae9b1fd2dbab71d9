"""Cluster certificates: issued by the node's own CLI (`footfall certs …`) as an operator would,
or hand-made with `cryptography` for the certificates a check needs to be wrong (expired, from
another CA, naming someone else)."""

import os
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def issue(binary, folder, cluster_name, nodes, operators=()):
    """A cluster CA in `folder`, a certificate for each node name and each operator name."""
    def cli(*args):
        subprocess.run([binary, "certs", *args, "--dir", folder], check=True, capture_output=True, text=True)
    cli("init", "--cluster-name", cluster_name)
    for name in operators:
        cli("operator", name)
    for name in nodes:
        cli("node", name)


def write_key_and_cert(folder, stem, key, cert):
    with open(os.path.join(folder, stem + "-key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(os.path.join(folder, stem + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def make_cert(dns_name, issuer_name, issuer_key, not_before, not_after, is_ca=False):
    """(key, certificate) for `dns_name`, signed by `issuer_key` (self-signed when None)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_name or subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if not is_ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                                                               x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return key, cert
