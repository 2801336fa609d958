#!/bin/sh
# bootstrap.sh creates a four-team ctimesh federation for compose.yaml and
# for tests: the federation and its authority, four node data directories,
# credentials issued and installed, and each node's ctinode.yaml listing the
# other three as bootstrap peers.
#
#   bootstrap.sh [options] CTINODE OUTDIR
#
# Layout under OUTDIR:
#   authority/federation.json        public, copied into every node
#   authority/authority.key          secret; never copied into a node
#   authority/credentials/NAME.cred  the credentials the authority issued
#   NAME/                            a node data directory (ctinode init)
#
# The teams (NAME team status role max-tlp):
#   cert-a     CERT-A     accredited  member    amber
#   cert-b     CERT-B     accredited  member    amber
#   cert-c     CERT-C     listed      member    green
#   regulator  REGULATOR  listed      observer  green
#
# Rerunning is safe: an existing federation, node key or credential is kept;
# only ctinode.yaml (and missing pieces) are written again, so changing
# --host or --port-base on a rerun rewires the nodes without new identities.
#
# Options:
#   --name NAME           federation name (default ctimesh-demo)
#   --host PATTERN        host other nodes dial; {name} becomes the node name
#                         (default {name}: the compose service names)
#   --listen-ip IP        address each node listens on (default 0.0.0.0)
#   --port-base N         node i (0..3, in the order above) uses port N+i
#                         (default 4011)
#   --admin HOST:PORT     admin API address of every node (default
#                         127.0.0.1:8411; loopback only; port 0 picks one)
#   --node-data-dir DIR   where the node will see its data directory, for
#                         paths written into ctinode.yaml (default: OUTDIR/NAME)
#   --taxii-port-base N   enable TAXII: node i listens on N+i with TLS, a
#                         self-signed certificate is made with openssl when
#                         NAME/taxii/cert.pem is missing (default and
#                         "": off)
#   --chown UID:GID       give the node directories to this owner (compose:
#                         the image's non-root user); the authority stays
#                         with the caller
#   --valid-for DURATION  credential validity (default: ctinode's, 8760h)
set -eu

# usage prints the comment above and exits with $1 (default 2).
usage() {
	sed -n '2,/^set -eu$/p' "$0" | sed -e '/^set -eu$/d' -e 's/^# \{0,1\}//' >&2
	exit "${1:-2}"
}

die() {
	echo "bootstrap: $*" >&2
	exit 1
}

fed_name=ctimesh-demo
host_pattern='{name}'
listen_ip=0.0.0.0
port_base=4011
admin=127.0.0.1:8411
node_data_dir=
taxii_port_base=
owner=
valid_for=

while [ $# -gt 0 ]; do
	case $1 in
	--name) fed_name=${2:?--name needs a value}; shift 2 ;;
	--host) host_pattern=${2:?--host needs a value}; shift 2 ;;
	--listen-ip) listen_ip=${2:?--listen-ip needs a value}; shift 2 ;;
	--port-base) port_base=${2:?--port-base needs a value}; shift 2 ;;
	--admin) admin=${2:?--admin needs a value}; shift 2 ;;
	--node-data-dir) node_data_dir=${2:?--node-data-dir needs a value}; shift 2 ;;
	--taxii-port-base) taxii_port_base=${2?--taxii-port-base needs a value}; shift 2 ;;
	--chown) owner=${2:?--chown needs a value}; shift 2 ;;
	--valid-for) valid_for=${2:?--valid-for needs a value}; shift 2 ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	-*) echo "bootstrap: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || usage
ctinode=$1
out=$2

case $ctinode in
*/*) [ -x "$ctinode" ] || die "$ctinode is not executable" ;;
*) command -v "$ctinode" >/dev/null 2>&1 || die "$ctinode not found in PATH" ;;
esac
for n in "$port_base" ${taxii_port_base:+"$taxii_port_base"}; do
	case $n in '' | *[!0-9]*) die "port base $n is not a number" ;; esac
done

# The four teams; the order fixes each node's index and so its ports.
teams='cert-a CERT-A accredited member amber
cert-b CERT-B accredited member amber
cert-c CERT-C listed member green
regulator REGULATOR listed observer green'

umask 022 # ctinode sets 0600 on every secret it writes
auth=$out/authority
fed=$auth/federation.json
key=$auth/authority.key
mkdir -p "$out" "$auth/credentials"
chmod 0700 "$auth"

# 1. The federation. Half of one means something went wrong earlier: stop
#    rather than mint a second authority the nodes would not trust.
if [ -f "$fed" ] && [ -f "$key" ]; then
	echo "federation: kept $fed"
elif [ -f "$fed" ] || [ -f "$key" ]; then
	die "only one of $fed and $key exists; restore the other or remove both"
else
	"$ctinode" federation init --name "$fed_name" --out "$auth"
fi

# multiaddr_host turns a host into the first multiaddr components.
multiaddr_host() {
	case $1 in
	*:*) echo "/ip6/$1" ;;
	*[!0-9.]*) echo "/dns/$1" ;;
	*) echo "/ip4/$1" ;;
	esac
}

# host_of NAME applies --host to a node name.
host_of() {
	h=$host_pattern
	while :; do
		case $h in
		*'{name}'*) h=${h%%'{name}'*}$1${h#*'{name}'} ;;
		*) break ;;
		esac
	done
	echo "$h"
}

# peer_id DIR reads the peer id from DIR/node-info.json.
peer_id() {
	id=$(sed -n 's/.*"peer_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$1/node-info.json")
	[ -n "$id" ] || die "no peer_id in $1/node-info.json"
	echo "$id"
}

# write_file PATH: stdin to PATH atomically, mode 0644.
write_file() {
	tmp=$1.tmp.$$
	cat >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$1"
}

# taxii_tls DIR HOST makes DIR/taxii/{cert,key}.pem unless they exist.
taxii_tls() {
	[ -f "$1/taxii/cert.pem" ] && [ -f "$1/taxii/key.pem" ] && return 0
	command -v openssl >/dev/null 2>&1 ||
		die "TAXII needs a TLS certificate: put $1/taxii/cert.pem and key.pem in place or install openssl"
	mkdir -p "$1/taxii"
	chmod 0700 "$1/taxii"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2,DNS:localhost,IP:127.0.0.1" \
		-keyout "$1/taxii/key.pem" -out "$1/taxii/cert.pem" 2>/dev/null ||
		die "openssl could not make a certificate for $2"
	chmod 0600 "$1/taxii/key.pem"
	chmod 0644 "$1/taxii/cert.pem"
	echo "$2: self-signed TAXII certificate $1/taxii/cert.pem"
}

# 2. Nodes and credentials.
echo "$teams" | while read -r name team status role tlp; do
	dir=$out/$name
	if [ -f "$dir/node.key" ]; then
		echo "$name: kept node $(peer_id "$dir")"
	else
		"$ctinode" init --data "$dir" --federation "$fed" --team "$team"
	fi
	cred=$auth/credentials/$name.cred
	if [ -f "$cred" ]; then
		echo "$name: kept credential $cred"
	else
		"$ctinode" credential issue --authority "$key" --federation "$fed" \
			--node-info "$dir/node-info.json" --team "$team" --status "$status" \
			--role "$role" --max-tlp "$tlp" ${valid_for:+--valid-for "$valid_for"} --out "$cred"
	fi
	if [ -f "$dir/credential.json" ] && cmp -s "$cred" "$dir/credential.json"; then
		:
	else
		"$ctinode" credential install --data "$dir" "$cred"
	fi
done

# 3. Configuration: every node lists the other three as bootstrap peers.
#    Written again on every run; keys and credentials are not.
i=0
echo "$teams" | while read -r name _; do
	echo "$name $i $(peer_id "$out/$name")"
	i=$((i + 1))
done >"$auth/.peers"

while read -r name idx id; do
	dir=$out/$name
	ndir=${node_data_dir:-$dir}
	port=$((port_base + idx))
	{
		echo "# Written by deployments/bootstrap.sh; rerunning it rewrites this file."
		echo "listen:"
		echo "  - $(multiaddr_host "$listen_ip")/tcp/$port"
		echo "peers:"
		while read -r pname pidx pid; do
			[ "$pname" = "$name" ] && continue
			echo "  - $(multiaddr_host "$(host_of "$pname")")/tcp/$((port_base + pidx))/p2p/$pid"
		done <"$auth/.peers"
		echo "admin: $admin"
		echo "log:"
		echo "  level: info"
		echo "  format: json"
		echo "reconnect_interval: 5s"
		if [ -n "$taxii_port_base" ]; then
			# TAXII: the names of this section follow the taxii package;
			# keep them in this one place.
			echo "taxii:"
			case $listen_ip in
			*:*) echo "  listen: '[$listen_ip]:$((taxii_port_base + idx))'" ;;
			*) echo "  listen: $listen_ip:$((taxii_port_base + idx))" ;;
			esac
			echo "  cert_file: $ndir/taxii/cert.pem"
			echo "  key_file: $ndir/taxii/key.pem"
		fi
	} | write_file "$dir/ctinode.yaml"
	if [ -n "$taxii_port_base" ]; then
		taxii_tls "$dir" "$(host_of "$name")"
	fi
	echo "$name: $id listens on port $port"
done <"$auth/.peers"
rm -f "$auth/.peers"

if [ -n "$owner" ]; then
	echo "$teams" | while read -r name _; do
		chown -R "$owner" "$out/$name"
	done
fi
echo "federation ready in $out (authority key: $key, keep it out of the nodes)"
