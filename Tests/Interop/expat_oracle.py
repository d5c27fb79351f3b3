"""Reads stanzas, one hex-encoded per line, from the file INPUT and writes to OUTPUT one line
per stanza: 1 when expat (the standard library's conforming XML parser) finds it a well-formed
document, 0 when it does not. Reads and writes files only, so it cannot block on a pipe.

Usage: python3 expat_oracle.py INPUT OUTPUT
"""
import sys
import xml.parsers.expat


def well_formed(data):
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(data, True)
        return True
    except xml.parsers.expat.ExpatError:
        return False


def main():
    with open(sys.argv[1]) as source:
        lines = source.read().split()
    verdicts = ["1" if well_formed(bytes.fromhex(line)) else "0" for line in lines]
    with open(sys.argv[2], "w") as output:
        output.write("\n".join(verdicts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
