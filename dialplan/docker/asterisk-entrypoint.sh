#!/bin/sh
# Entrypoint of the lab's asterisk service (docker-compose.asterisk.yml mounts this file and
# runs it before Asterisk): writes the AMI secret and the ARI password from the environment
# (.env: AMI_SECRET, ARI_PASSWORD) into two small files under /etc/asterisk, then starts
# Asterisk with the command compose gives.
#
# Why a script: Asterisk's .conf files do not read environment variables, and the alternative,
# "#exec" in a .conf, needs execincludes = yes in asterisk.conf, which lets every included file
# run programs. The lab's manager.conf and ari.conf include the copy-paste samples
# (manager_cti.conf, ari_cti.conf, with their "change-me" placeholders), then these files:
#
#     [cti](+)                     <- "(+)": add to the [cti] section read before
#     secret = <AMI_SECRET>
#
# manager.c reads a user's variables in order and keeps the LAST "secret"; res_ari applies a
# user's options in order too, so the LAST "password" wins. The placeholders are never used.
#
# A value must be 16+ characters of letters, digits and . _ + / = - (what openssl rand -hex
# or -base64 prints): in a .conf, ";" starts a comment and a line break starts a new setting,
# so anything else could cut the secret short or inject settings; "$" would also be expanded
# by compose. The "change-me" placeholders of .env.example are refused.
#
# Runs as whatever user the image starts with (andrius/asterisk 22.8.2: "asterisk", which owns
# /etc/asterisk). Started as root (later images run a root entrypoint that fixes volume owners),
# it hands the files to asterisk, and runs that image's /usr/local/bin/entrypoint.sh when there.
#
# CTI_ASTERISK_ETC (default /etc/asterisk) moves the output folder; the tests use it.
set -eu

etc=${CTI_ASTERISK_ETC:-/etc/asterisk}

die() {
    echo "cti lab: $*" >&2
    exit 1
}

check_secret() {  # NAME VALUE
    case $2 in
        "") die "$1 is empty: set it in .env (cp .env.example .env)" ;;
        change-me*) die "$1 still has the placeholder of .env.example: replace it, e.g. with" \
                        "the output of: openssl rand -hex 24" ;;
        *[!A-Za-z0-9._+/=-]*) die "$1: use letters, digits and . _ + / = - only" ;;
    esac
    [ "${#2}" -ge 16 ] || die "$1: at least 16 characters"
}

ami_secret=${AMI_SECRET:-}
ari_password=${ARI_PASSWORD:-}
check_secret AMI_SECRET "$ami_secret"
check_secret ARI_PASSWORD "$ari_password"

umask 077  # secrets: readable by their owner only
manager_file=$etc/manager_cti_secret.conf
ari_file=$etc/ari_cti_secret.conf
cat > "$manager_file.tmp" <<EOF
; Written by asterisk-entrypoint.sh at container start from AMI_SECRET (.env). Do not edit.
[cti](+)
secret = $ami_secret
EOF
cat > "$ari_file.tmp" <<EOF
; Written by asterisk-entrypoint.sh at container start from ARI_PASSWORD (.env). Do not edit.
[cti](+)
password = $ari_password
password_format = plain
EOF
mv "$manager_file.tmp" "$manager_file"
mv "$ari_file.tmp" "$ari_file"
if [ "$(id -u)" = 0 ] && id asterisk >/dev/null 2>&1; then
    chown asterisk:asterisk "$manager_file" "$ari_file"
fi
# Asterisk itself does not need them in its environment (nor anything it starts).
unset AMI_SECRET ARI_PASSWORD ami_secret ari_password

if [ -x /usr/local/bin/entrypoint.sh ]; then
    exec /usr/local/bin/entrypoint.sh "$@"
fi
exec "$@"
