#!/usr/bin/env bash
# data_download.sh: fetch the public datasets that FGI uses and verify every file by sha256.
#
#   ./data_download.sh                       # everything that can be automated, into ./data
#   ./data_download.sh --only gazemedseg     # just the GazeMedSeg gaze CSVs
#   ./data_download.sh --dry-run             # show what would be fetched, and where
#   ./data_download.sh --help
#
# Needs only bash, coreutils (sha256sum; `shasum -a 256` also works), awk, curl and unzip.
# Run it with bash (also bash 3.2 on macOS); see usage() below for all options and variables.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST_DIR="$SCRIPT_DIR/fgi_core/data/manifests"
ALL_NAMES="kvasir gazemedseg isic nci-isbi"

KVASIR_URL="https://datasets.simula.no/downloads/kvasir-seg.zip"
# GazeMedSeg's CSVs were public in the repository at this commit (later commits removed them).
GAZE_COMMIT="cf3aa2aa924d47b62135ed338bc3768d4c1ee344"
GAZE_BASE_URL="https://raw.githubusercontent.com/med-air/GazeMedSeg/$GAZE_COMMIT/GazeMedSEg"
GAZE_FILES="kvasir_fixation.csv nci-isbi_fixation.csv"

usage() {
    cat <<'EOF'
Usage: data_download.sh [--data-dir DIR] [--only NAME]... [--dry-run] [--help]

Fetch the public datasets used by FGI into a data folder and verify every file by sha256.

Options:
  --data-dir DIR   where to put the data (default: ./data). Layout afterwards:
                     DIR/kvasir-seg/images/*.jpg, DIR/kvasir-seg/masks/*.jpg
                     DIR/gazemedseg/kvasir_fixation.csv, DIR/gazemedseg/nci-isbi_fixation.csv
  --only NAME      fetch only this dataset; repeat it (or use commas) for several.
                   NAME is one of: kvasir, gazemedseg, isic, nci-isbi. Default: all of them.
  --dry-run        print what would be fetched and where; download and write nothing.
  -h, --help       show this help.

Datasets:
  kvasir       Kvasir-SEG, 1000 colonoscopy images + polyp masks (official zip, ~46 MB),
               each extracted file checked against fgi_core/data/manifests/kvasir_seg_sha256.csv.
  gazemedseg   GazeMedSeg eye-gaze fixations for Kvasir-SEG and NCI-ISBI (two CSVs, ~4 MB),
               checked against fgi_core/data/manifests/gazemedseg_sha256.txt.
  isic         ISIC 2018 task 1: not yet automated (prints the manual steps).
  nci-isbi     NCI-ISBI 2013 prostate MRI: not yet automated (prints the manual steps).

Behaviour:
  - Downloads go to NAME.part and are renamed only after they pass the checks; a partial
    .part file left by an interrupted run is resumed (curl -C -).
  - Files that are already present and verified are skipped ("already verified").
  - A sha256 mismatch deletes the bad file and exits with status 1, naming the file and both sums.
  - Exit status: 0 on success (also when the only requested datasets are manual ones, which are
    listed as skipped), 1 on a failed download or check, 2 on a usage error.

Environment variables:
  FGI_MIRROR            a folder, or a file:// (or http[s]://) URL, that replaces the original hosts:
                        each file is taken from $FGI_MIRROR/<file name>, i.e. kvasir-seg.zip,
                        kvasir_fixation.csv, nci-isbi_fixation.csv. A plain folder is copied with cp.
  FGI_KVASIR_MANIFEST   CSV (file,image_sha256,mask_sha256) that replaces the shipped Kvasir-SEG sums.
  FGI_GAZEMEDSEG_SUMS   sha256sum-format file that replaces the shipped GazeMedSeg sums.
                        These two are for tests, and for mirrors that hold other contents;
                        normal use needs neither.
EOF
}

# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
usage_error() {
    printf 'error: %s\n' "$*" >&2
    printf "Run '%s --help' for the options.\n" "$0" >&2
    exit 2
}

have() { command -v "$1" >/dev/null 2>&1; }

# sha256 of files, in `sha256sum` output format ("<hash>  <path>").
sha256_files() {
    if have sha256sum; then sha256sum -- "$@"; else shasum -a 256 -- "$@"; fi
}
sha256_of() {
    local out
    out=$(sha256_files "$1") || die "cannot compute the sha256 of $1"
    printf '%s\n' "${out%% *}"
}
size_of() { wc -c <"$1" | tr -d ' '; }

# Paths removed when the script exits (temporary extraction folders).
CLEANUP=""
cleanup() {
    if [ -n "$CLEANUP" ]; then
        local p
        while IFS= read -r p; do
            [ -n "$p" ] && rm -rf -- "$p"
        done <<EOF
$CLEANUP
EOF
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------
DATA_DIR="./data"
DRY_RUN=0
ONLY=""

add_only() {
    local list=$1 name known ok
    [ -n "$list" ] || usage_error "--only needs a dataset name (one of: ${ALL_NAMES// /, })"
    for name in ${list//,/ }; do
        ok=0
        for known in $ALL_NAMES; do
            [ "$name" = "$known" ] && ok=1
        done
        [ $ok -eq 1 ] || usage_error "unknown dataset '$name' for --only; allowed names: ${ALL_NAMES// /, }"
        case " $ONLY " in *" $name "*) ;; *) ONLY="$ONLY $name" ;; esac
    done
}

while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --data-dir)
            [ $# -ge 2 ] || usage_error "--data-dir needs a folder"
            DATA_DIR=$2; shift 2 ;;
        --data-dir=*) DATA_DIR=${1#*=}; shift ;;
        --only)
            [ $# -ge 2 ] || usage_error "--only needs a dataset name (one of: ${ALL_NAMES// /, })"
            add_only "$2"; shift 2 ;;
        --only=*) add_only "${1#*=}"; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done
[ -n "$DATA_DIR" ] || usage_error "--data-dir must not be empty"

# Datasets to do, always in this order.
SELECTED=""
for name in $ALL_NAMES; do
    if [ -z "$ONLY" ]; then
        SELECTED="$SELECTED $name"
    else
        case " $ONLY " in *" $name "*) SELECTED="$SELECTED $name" ;; esac
    fi
done
selected() { case " $SELECTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------------------------------------
# where files come from: the original host, or FGI_MIRROR
# ---------------------------------------------------------------------------------------------
MIRROR=${FGI_MIRROR:-}
MIRROR_KIND=""
if [ -n "$MIRROR" ]; then
    case "$MIRROR" in
        *://*) MIRROR_KIND=url ;;
        *)
            MIRROR_KIND=dir
            [ -d "$MIRROR" ] || die "FGI_MIRROR=$MIRROR is not a folder (give a folder path or a file:// URL)"
            ;;
    esac
fi

# Sets SRC (URL or path) and SRC_KIND (url | dir) for an original URL.
resolve_source() {
    local url=$1
    case "$MIRROR_KIND" in
        dir) SRC="${MIRROR%/}/${url##*/}"; SRC_KIND=dir ;;
        url) SRC="${MIRROR%/}/${url##*/}"; SRC_KIND=url ;;
        *) SRC=$url; SRC_KIND=url ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------
check_tools() {
    local missing="" need_curl=0 t
    if selected kvasir || selected gazemedseg; then
        have awk || missing="$missing awk"
        if ! have sha256sum && ! have shasum; then missing="$missing sha256sum"; fi
        [ "$MIRROR_KIND" = dir ] || need_curl=1
    fi
    if selected kvasir; then
        have unzip || missing="$missing unzip"
    fi
    if [ $need_curl -eq 1 ]; then
        have curl || missing="$missing curl"
    fi
    for t in mktemp head tr wc; do
        have "$t" || missing="$missing $t"
    done
    if [ -n "$missing" ]; then
        if [ $DRY_RUN -eq 1 ]; then
            warn "missing tools needed for a real run:$missing"
        else
            die "missing required tools:$missing (install them, e.g. 'apt-get install curl unzip coreutils' or 'brew install curl unzip coreutils')"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# fetching one file to <dest>.part
# ---------------------------------------------------------------------------------------------
curl_get() {
    local url=$1 out=$2 progress="-sS"
    [ -t 2 ] && progress="--progress-bar"
    curl -fL --retry 3 --connect-timeout 30 -C - "$progress" -o "$out" "$url"
}

# fetch SRC SRC_KIND PART: leaves the complete file at PART or exits with a clear message.
fetch() {
    local src=$1 kind=$2 part=$3 rc=0 resumed=0 base
    base=${src##*/}
    if [ "$kind" = dir ]; then
        [ -f "$src" ] || die "not found in the mirror folder (FGI_MIRROR): $src"
        rm -f -- "$part"
        say "  copying $src"
        cp -- "$src" "$part" || die "cannot copy $src to $part"
        return 0
    fi
    if [ -s "$part" ]; then
        resumed=1
        say "  resuming the partial download $part ($(size_of "$part") bytes so far)"
    fi
    say "  downloading $src"
    curl_get "$src" "$part" || rc=$?
    if [ $rc -ne 0 ] && [ $resumed -eq 1 ]; then
        case $rc in
            22 | 33 | 36)
                # The server refused the byte range (e.g. the file changed): start afresh once.
                warn "could not resume $part (curl exit $rc); downloading it again from the start"
                rm -f -- "$part"
                rc=0
                curl_get "$src" "$part" || rc=$?
                ;;
        esac
    fi
    [ $rc -eq 0 ] && return 0
    if [ -f "$part" ] && [ ! -s "$part" ]; then rm -f -- "$part"; fi
    local keep=""
    [ -s "$part" ] && keep=" The partial file $part is kept; run the script again to resume."
    case $rc in
        6) die "cannot reach the host for $src: its name could not be resolved (offline, or a DNS/proxy problem).$keep To work offline, put $base in a folder and set FGI_MIRROR to it." ;;
        7) die "cannot reach the host for $src: the connection was refused or the host is unreachable.$keep To work offline, put $base in a folder and set FGI_MIRROR to it." ;;
        28) die "the download of $src timed out.$keep" ;;
        35 | 51 | 53 | 54 | 58 | 59 | 60 | 77 | 80 | 83 | 90 | 91)
            die "the secure (TLS) connection for $src failed (curl exit $rc); check the system's CA certificates and proxy." ;;
        22) die "the server answered $src with an HTTP error (see curl's message above); the file may have moved. Download it by hand into a folder and set FGI_MIRROR to that folder." ;;
        37) die "cannot read $src (curl exit 37): no such file in the mirror?" ;;
        18) die "the download of $src stopped early.$keep" ;;
        *) die "curl failed with exit status $rc for $src.$keep" ;;
    esac
}

# True when the file starts (after blanks and a UTF-8 byte-order mark) like an HTML page.
looks_like_html() {
    local start
    start=$(LC_ALL=C head -c 1024 -- "$1" | LC_ALL=C tr -d '\000' | LC_ALL=C tr -d ' \t\r\n' | LC_ALL=C tr '[:upper:]' '[:lower:]')
    start=${start#$'\xef\xbb\xbf'}
    case "$start" in
        "<!doctypehtml"* | "<html"*) return 0 ;;
        *) return 1 ;;
    esac
}

reject_html() {
    local file=$1 src=$2
    if looks_like_html "$file"; then
        rm -f -- "$file"
        die "the host returned an HTML page instead of the file: $src (deleted $file). The link may have moved or need a browser login; download the file by hand into a folder and set FGI_MIRROR to that folder."
    fi
}

# ---------------------------------------------------------------------------------------------
# licence and citation notes (printed before anything is fetched)
# ---------------------------------------------------------------------------------------------
terms_kvasir() {
    cat <<'EOF'
== Kvasir-SEG: 1000 colonoscopy images with polyp masks (Simula / Vestre Viken) ==
Terms: use is allowed for research and educational purposes; any other use, commercial use
       included, needs the dataset owners' prior written permission.
       See https://datasets.simula.no/kvasir-seg/
Cite:  D. Jha, P. H. Smedsrud, M. A. Riegler, P. Halvorsen, T. de Lange, D. Johansen,
       H. D. Johansen, "Kvasir-SEG: A Segmented Polyp Dataset", MultiMedia Modeling (MMM) 2020.
EOF
}

terms_gazemedseg() {
    cat <<'EOF'
== GazeMedSeg: eye-gaze fixations on Kvasir-SEG and NCI-ISBI 2013 images ==
Terms: the GazeMedSeg repository (github.com/med-air/GazeMedSeg) has no licence file; the
       authors publish the data as a public dataset. Use it for research only and do not
       redistribute it. The gaze refers to Kvasir-SEG / NCI-ISBI images: their terms apply too.
Cite:  Y. Zhong, C. Tang, Y. Yang, R. Qi, K. Zhou, Y. Gong, P.-A. Heng, J. H. Hsiao, Q. Dou,
       "Weakly-supervised Medical Image Segmentation with Gaze Annotations", MICCAI 2024
       (arXiv 2407.07406).
EOF
}

manual_isic() {
    cat <<EOF
== ISIC 2018 task 1 (skin lesion segmentation): not yet automated: coming in a later release ==
Manual steps:
  1. Open https://challenge.isic-archive.com/data/#2018 and download, for Task 1:
       ISIC2018_Task1-2_Training_Input.zip and ISIC2018_Task1_Training_GroundTruth.zip
     (and the Validation / Test input and ground-truth zips if you evaluate on them).
  2. Unzip them into $DATA_DIR/isic2018/ so that it holds
       ISIC2018_Task1-2_Training_Input/ISIC_*.jpg
       ISIC2018_Task1_Training_GroundTruth/ISIC_*_segmentation.png
  Gaze for ISIC is simulated from the masks by fgi_core (no recorded gaze exists).
Terms: those stated on the ISIC challenge site (the 2018 challenge data are CC BY-NC 4.0).
Cite:  N. Codella et al., "Skin Lesion Analysis Toward Melanoma Detection 2018: A Challenge Hosted
       by the International Skin Imaging Collaboration (ISIC)", arXiv 1902.03368; and
       P. Tschandl, C. Rosendahl, H. Kittler, "The HAM10000 dataset", Scientific Data 2018.
EOF
}

manual_nci_isbi() {
    cat <<EOF
== NCI-ISBI 2013 (prostate MRI segmentation): not yet automated: coming in a later release ==
Manual steps:
  1. Open the collection page on The Cancer Imaging Archive (TCIA):
       https://doi.org/10.7937/K9/TCIA.2015.zF0vlOPv
     download the image manifest (.tcia file) and open it with the NBIA Data Retriever
     (install it from TCIA's site) to fetch the T2-weighted DICOM series.
  2. From the same page download the segmentation labels (NRRD files) for the training,
     leaderboard and test cases.
  3. Put both under $DATA_DIR/nci-isbi/ and prepare the 2D slices as GazeMedSeg does
     (images/<case>_<slice>.dcm, masks/<case>_<slice>.png); the gaze in
     $DATA_DIR/gazemedseg/nci-isbi_fixation.csv is keyed by these <case>_<slice> names.
Terms: the TCIA Data Usage Policy and the licence named on the collection page.
Cite:  N. Bloch et al., "NCI-ISBI 2013 Challenge: Automated Segmentation of Prostate Structures",
       The Cancer Imaging Archive, 2015, doi:10.7937/K9/TCIA.2015.zF0vlOPv.
EOF
}

# ---------------------------------------------------------------------------------------------
# GazeMedSeg: two CSVs, each with a known sha256
# ---------------------------------------------------------------------------------------------
GAZE_SUMS=${FGI_GAZEMEDSEG_SUMS:-$MANIFEST_DIR/gazemedseg_sha256.txt}

gaze_expected_sum() {
    local name=$1 sum
    sum=$(awk -v n="$name" '{
            sub(/\r$/, "")
            if (NF < 2) next
            f = $2; sub(/^\*/, "", f); sub(/^.*\//, "", f)
            if (f == n) { print tolower($1); exit }
        }' "$GAZE_SUMS")
    case "$sum" in
        [0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;;
        *) die "no sha256 for $name in $GAZE_SUMS" ;;
    esac
    [ ${#sum} -eq 64 ] || die "malformed sha256 for $name in $GAZE_SUMS: $sum"
    printf '%s\n' "$sum"
}

do_gazemedseg() {
    local dir="$DATA_DIR/gazemedseg" name url dest part expected actual
    [ -f "$GAZE_SUMS" ] || die "GazeMedSeg checksum file not found: $GAZE_SUMS (it ships with the repository under fgi_core/data/manifests/; FGI_GAZEMEDSEG_SUMS can point elsewhere)"
    for name in $GAZE_FILES; do
        url="$GAZE_BASE_URL/$name"
        resolve_source "$url"
        dest="$dir/$name"
        part="$dest.part"
        expected=$(gaze_expected_sum "$name")
        if [ $DRY_RUN -eq 1 ]; then
            say "  would fetch $SRC"
            say "        into $dest (sha256 $expected)"
            [ -f "$dest" ] && say "        ($dest exists: it would be checked and skipped if it matches)"
            continue
        fi
        if [ -f "$dest" ]; then
            actual=$(sha256_of "$dest")
            if [ "$actual" = "$expected" ]; then
                say "  already verified: $dest"
                continue
            fi
            warn "$dest exists but its sha256 is $actual, not $expected: fetching it again"
            rm -f -- "$dest"
        fi
        mkdir -p -- "$dir"
        fetch "$SRC" "$SRC_KIND" "$part"
        reject_html "$part" "$SRC"
        actual=$(sha256_of "$part")
        if [ "$actual" != "$expected" ]; then
            rm -f -- "$part"
            die "sha256 mismatch for $name (from $SRC): expected $expected, actual $actual. The bad file was deleted."
        fi
        mv -f -- "$part" "$dest"
        say "  verified: $dest"
    done
}

# ---------------------------------------------------------------------------------------------
# Kvasir-SEG: one zip; every extracted image and mask has a known sha256
# ---------------------------------------------------------------------------------------------
KVASIR_MANIFEST=${FGI_KVASIR_MANIFEST:-$MANIFEST_DIR/kvasir_seg_sha256.csv}

# Manifest CSV (file,image_sha256,mask_sha256) -> sha256sum lines for images/ and masks/.
kvasir_expected_list() {
    awk -F, '
        { sub(/\r$/, "") }
        NR == 1 && $1 == "file" { next }
        /^[[:space:]]*$/ { next }
        {
            if (NF != 3 || length($2) != 64 || length($3) != 64) {
                printf "malformed line %d of the manifest: %s\n", NR, $0 > "/dev/stderr"; bad = 1; exit 1
            }
            printf "%s  images/%s\n", tolower($2), $1
            printf "%s  masks/%s\n", tolower($3), $1
        }' "$KVASIR_MANIFEST"
}

# verify_kvasir_tree ROOT REPORT: checks ROOT/images and ROOT/masks against the manifest.
# Writes lines "MISMATCH path expected actual", "MISSING path expected", "EXTRA path actual"
# (sorted) to REPORT. Returns 0 when nothing is missing or different (extra files are allowed).
verify_kvasir_tree() {
    local root=$1 report=$2 expected actual sumcmd
    expected="$report.expected"
    actual="$report.actual"
    kvasir_expected_list >"$expected" || die "cannot read the Kvasir-SEG manifest $KVASIR_MANIFEST"
    [ -s "$expected" ] || die "the Kvasir-SEG manifest $KVASIR_MANIFEST lists no files"
    if have sha256sum; then sumcmd="sha256sum"; else sumcmd="shasum -a 256"; fi
    (
        cd "$root" || exit 1
        for d in images masks; do
            if [ -d "$d" ]; then
                # shellcheck disable=SC2086  # $sumcmd is "sha256sum" or "shasum -a 256"
                find "$d" -type f -exec $sumcmd {} + || exit 1
            fi
        done
    ) >"$actual" || die "cannot compute sha256 sums under $root"
    awk '
        FNR == NR { e[substr($0, 67)] = $1; next }
        { p = substr($0, 67); sub(/^\*/, "", p); a[p] = $1 }
        END {
            for (p in e) {
                if (!(p in a)) print "MISSING " p " " e[p]
                else if (a[p] != e[p]) print "MISMATCH " p " " e[p] " " a[p]
            }
            for (p in a) if (!(p in e)) print "EXTRA " p " " a[p]
        }' "$expected" "$actual" | LC_ALL=C sort >"$report"
    rm -f -- "$expected" "$actual"
    ! grep -qE '^(MISSING|MISMATCH) ' "$report"
}

# Human-readable summary of a report (at most 10 lines per kind).
describe_report() {
    local report=$1 n
    n=$(grep -c '^MISMATCH ' "$report" || true)
    if [ "$n" -gt 0 ]; then
        say "  $n file(s) with a sha256 mismatch:"
        awk '$1 == "MISMATCH" && ++k <= 10 { printf "    %s: expected %s, actual %s\n", $2, $3, $4 }' "$report"
        [ "$n" -gt 10 ] && say "    ... and $((n - 10)) more"
    fi
    n=$(grep -c '^MISSING ' "$report" || true)
    if [ "$n" -gt 0 ]; then
        say "  $n file(s) of the manifest missing (sha256 expected):"
        awk '$1 == "MISSING" && ++k <= 10 { printf "    %s (expected %s)\n", $2, $3 }' "$report"
        [ "$n" -gt 10 ] && say "    ... and $((n - 10)) more"
    fi
    return 0
}

do_kvasir() {
    local dest="$DATA_DIR/kvasir-seg" zip="$DATA_DIR/kvasir-seg.zip" part tmp top report n entry
    part="$zip.part"
    [ -f "$KVASIR_MANIFEST" ] || die "Kvasir-SEG manifest not found: $KVASIR_MANIFEST (it ships with the repository under fgi_core/data/manifests/; FGI_KVASIR_MANIFEST can point elsewhere)"
    resolve_source "$KVASIR_URL"
    n=$(kvasir_expected_list | wc -l | tr -d ' ')
    if [ $DRY_RUN -eq 1 ]; then
        say "  would fetch $SRC"
        say "        into $part, then extract images/ and masks/ into $dest/"
        say "        and check all $n files against $KVASIR_MANIFEST"
        [ -d "$dest/images" ] && say "        ($dest/images exists: it would be checked and skipped if it matches)"
        return 0
    fi
    mkdir -p -- "$DATA_DIR"
    report=$(mktemp "$DATA_DIR/.kvasir-seg.check.XXXXXX")
    CLEANUP="$CLEANUP
$report"

    if [ -d "$dest/images" ] || [ -d "$dest/masks" ]; then
        if verify_kvasir_tree "$dest" "$report"; then
            say "  already verified: $dest ($n files match the manifest)"
            rm -f -- "$report"
            return 0
        fi
        warn "the Kvasir-SEG copy in $dest does not match the manifest; fetching it again:"
        describe_report "$report" >&2
    fi

    if [ -f "$zip" ] && unzip -tq "$zip" >/dev/null 2>&1; then
        say "  using the archive downloaded earlier: $zip"
    else
        rm -f -- "$zip"
        fetch "$SRC" "$SRC_KIND" "$part"
        reject_html "$part" "$SRC"
        if ! unzip -tq "$part" >/dev/null 2>&1; then
            rm -f -- "$part"
            die "the archive from $SRC is damaged or not a zip file (unzip -t failed); deleted it. Run the script again to download it afresh."
        fi
        mv -f -- "$part" "$zip"
    fi

    tmp=$(mktemp -d "$DATA_DIR/.kvasir-seg.extract.XXXXXX")
    CLEANUP="$CLEANUP
$tmp"
    say "  extracting $zip"
    unzip -q "$zip" -d "$tmp" || { rm -rf -- "$tmp"; die "cannot extract $zip"; }
    top=""
    for entry in "$tmp/Kvasir-SEG" "$tmp"/*; do
        if [ -d "$entry/images" ] && [ -d "$entry/masks" ]; then top=$entry; break; fi
    done
    if [ -z "$top" ] && [ -d "$tmp/images" ] && [ -d "$tmp/masks" ]; then top=$tmp; fi
    if [ -z "$top" ]; then
        rm -f -- "$zip"
        die "unexpected layout in $SRC: no Kvasir-SEG/images and Kvasir-SEG/masks folders (found: $(cd "$tmp" && ls -A | awk 'NR <= 5 { printf "%s ", $0 }')). Deleted the archive."
    fi

    say "  checking $n extracted files against $KVASIR_MANIFEST"
    if ! verify_kvasir_tree "$top" "$report"; then
        describe_report "$report" >&2
        rm -rf -- "$tmp"
        rm -f -- "$zip"
        die "sha256 check of Kvasir-SEG failed (archive from $SRC): the files listed above do not match the manifest $KVASIR_MANIFEST. Deleted the archive and the extracted files."
    fi
    n=$(grep -c '^EXTRA ' "$report" || true)
    [ "$n" -gt 0 ] && warn "$n extracted file(s) are not in the manifest and were not checked (e.g. $(awk '$1 == "EXTRA" { print $2; exit }' "$report"))"

    mkdir -p -- "$dest"
    rm -rf -- "$dest/images" "$dest/masks"
    mv -- "$top/images" "$dest/images"
    mv -- "$top/masks" "$dest/masks"
    for entry in "$top"/*; do
        [ -e "$entry" ] || continue
        rm -rf -- "$dest/${entry##*/}"
        mv -- "$entry" "$dest/"
        say "  also extracted (not checked): $dest/${entry##*/}"
    done
    rm -rf -- "$tmp" "$report"
    rm -f -- "$zip"
    say "  verified: $dest/images and $dest/masks (removed the archive $zip)"
    say "  note: this script does not make $dest/splits/; write splits/train.txt, val.txt and"
    say "        test.txt there yourself (one image id per line, no extension). Without them the"
    say "        reader offers only the split 'all'."
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
check_tools

if [ $DRY_RUN -eq 1 ]; then
    say "Dry run: nothing is downloaded or written. Data folder: $DATA_DIR"
else
    say "Data folder: $DATA_DIR"
fi
[ -n "$MIRROR" ] && say "Using the mirror FGI_MIRROR=$MIRROR instead of the original hosts."
[ -n "${FGI_KVASIR_MANIFEST:-}" ] && say "Kvasir-SEG sums from FGI_KVASIR_MANIFEST=$FGI_KVASIR_MANIFEST"
[ -n "${FGI_GAZEMEDSEG_SUMS:-}" ] && say "GazeMedSeg sums from FGI_GAZEMEDSEG_SUMS=$FGI_GAZEMEDSEG_SUMS"
say ""

DONE=""
SKIPPED=""
for name in $SELECTED; do
    case $name in
        kvasir)
            terms_kvasir
            do_kvasir
            DONE="$DONE $name" ;;
        gazemedseg)
            terms_gazemedseg
            do_gazemedseg
            DONE="$DONE $name" ;;
        isic)
            manual_isic
            SKIPPED="$SKIPPED $name" ;;
        nci-isbi)
            manual_nci_isbi
            SKIPPED="$SKIPPED $name" ;;
    esac
    say ""
done

if [ $DRY_RUN -eq 1 ]; then
    say "Dry run finished; nothing was written."
fi
[ -n "$DONE" ] && [ $DRY_RUN -eq 0 ] && say "Done and verified:$DONE"
if [ -n "$SKIPPED" ]; then
    say "Skipped (not yet automated, see the manual steps above):$SKIPPED"
fi
exit 0
