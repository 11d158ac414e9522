#!/bin/sh
# The one-shot kibana-setup service of compose.yaml (profile full): Kibana's data view
# qa-websocket-* over the stand's log indices (Filebeat writes qa-websocket-YYYY.MM.DD), made the
# default data view, so that Discover opens on the stand's logs. Idempotent: a second run finds
# the view (by its id) and only makes it the default again.
# Kibana's data views API: GET and POST /api/data_views/data_view, POST /api/data_views/default;
# every write carries the kbn-xsrf header. The request body is data-view.json, next to this file.
set -eu
KIBANA=${KIBANA_URL:-http://kibana:5601}
VIEW=qa-websocket  # data-view.json's id
TRIES=${KIBANA_TRIES:-60}  # /api/status answers 503 until Kibana is available: 60 x 5 s
PAUSE=${KIBANA_PAUSE:-5}
HERE=$(dirname "$0")

tries=0
until curl -fsS -o /dev/null "$KIBANA/api/status"; do
    tries=$((tries + 1))
    if [ "$tries" -ge "$TRIES" ]; then
        echo "kibana-setup: Kibana at $KIBANA is not available after $tries tries" >&2
        exit 1
    fi
    sleep "$PAUSE"
done

found=$(curl -sS -o /dev/null -w '%{http_code}' "$KIBANA/api/data_views/data_view/$VIEW")
case "$found" in
    200) echo "kibana-setup: the data view $VIEW is there already" ;;
    404)
        curl -fsS -o /dev/null -X POST "$KIBANA/api/data_views/data_view" -H 'kbn-xsrf: true' \
            -H 'Content-Type: application/json' --data-binary "@$HERE/data-view.json"
        echo "kibana-setup: the data view $VIEW (qa-websocket-*) is created" ;;
    *)
        echo "kibana-setup: GET /api/data_views/data_view/$VIEW answered $found" >&2
        exit 1 ;;
esac
curl -fsS -o /dev/null -X POST "$KIBANA/api/data_views/default" -H 'kbn-xsrf: true' \
    -H 'Content-Type: application/json' --data "{\"data_view_id\": \"$VIEW\", \"force\": true}"
echo "kibana-setup: $VIEW is the default data view: Discover opens on the stand's logs"
