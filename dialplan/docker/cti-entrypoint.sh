#!/bin/sh
# Entrypoint of the cti image (Dockerfile): creates the first admin, then runs the command
# (default: cti serve).
#
# cti has no built-in account: people are created with "cti user add". In a container that
# means a "docker compose exec" before anyone can log in, so when ADMIN_PASSWORD is set (.env)
# and the database has no user at all, this creates "admin" (role admin) with that password,
# through cti's own command, which checks it (8+ characters) and stores only its scrypt hash.
# Once any user exists it does nothing, whatever ADMIN_PASSWORD says: a password changed in
# the UI, or an admin renamed or removed on purpose, is never undone by a restart. The
# "change-me" placeholder of .env.example is refused.
set -eu

die() {
    echo "cti: $*" >&2
    exit 1
}

admin_password=${ADMIN_PASSWORD:-}
unset ADMIN_PASSWORD  # cti serve has no use for it
if [ -n "$admin_password" ]; then
    case $admin_password in
        change-me*) die "ADMIN_PASSWORD still has the placeholder of .env.example: set your" \
                        "own, or leave it empty and run: cti user add NAME --role admin" ;;
    esac
    users=$(cti user list) || die "cannot read the users of the database (cti user list)"
    # "cti user list" prints a header line, then one line per user.
    if [ "$(printf '%s\n' "$users" | wc -l)" -le 1 ]; then
        printf '%s\n' "$admin_password" | cti user add admin --role admin --password-stdin >&2 \
            || die "could not create the first admin from ADMIN_PASSWORD"
        echo "cti: created the first admin, user 'admin', from ADMIN_PASSWORD" >&2
    fi
fi
unset admin_password
exec "$@"
