"""Answer every TCP connection and UDP datagram with the source address the server saw.

    python3 echo_server.py --bind 203.0.113.10 --port 8080 [--pidfile F] [--log F]

Stdlib only. TCP: the server writes "<ip>\n" and closes. UDP: it replies "<ip>\n" to the sender.
Each answer is also logged as "tcp|udp <ip>:<port>".
"""
import argparse
import os
import socket
import sys
import threading


def serve_tcp(sock, log):
    while True:
        conn, peer = sock.accept()
        try:
            conn.settimeout(2.0)
            conn.sendall(("%s\n" % peer[0]).encode())
        except OSError:
            pass
        finally:
            conn.close()
        log("tcp %s:%d" % peer[:2])


def serve_udp(sock, log):
    while True:
        _data, peer = sock.recvfrom(2048)
        try:
            sock.sendto(("%s\n" % peer[0]).encode(), peer)
        except OSError:
            pass
        log("udp %s:%d" % peer[:2])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    args = ap.parse_args(argv)

    logf = open(args.log, "a", buffering=1) if args.log else sys.stdout
    lock = threading.Lock()

    def log(line):
        with lock:
            logf.write(line + "\n")

    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET   # an IPv6 --bind serves IPv6
    tcp = socket.socket(family, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.bind, args.port))
    tcp.listen(64)
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((args.bind, args.port))
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(tmp, args.pidfile)
    t = threading.Thread(target=serve_udp, args=(udp, log), daemon=True)
    t.start()
    serve_tcp(tcp, log)


if __name__ == "__main__":
    main()
