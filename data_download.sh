#!/usr/bin/env bash
# data_download.sh: fetch the public datasets that FGI uses, verify every file by sha256, and
# prepare them into the layouts the readers expect.
#
#   ./data_download.sh                       # everything, into ./data
#   ./data_download.sh --only gazemedseg     # just the GazeMedSeg gaze CSVs
#   ./data_download.sh --dry-run             # show what would be fetched, and where
#   ./data_download.sh --help
#
# Needs bash, coreutils (sha256sum; `shasum -a 256` also works), awk, curl and unzip; and, to
# prepare ISIC and NCI-ISBI, the project's Python (fgi_core with pydicom and pynrrd).
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
# ISIC 2018 task 1: the challenge's own bucket (linked from challenge.isic-archive.com/data).
ISIC_BASE_URL="https://isic-challenge-data.s3.amazonaws.com/2018"
ISIC_ZIPS="ISIC2018_Task1-2_Training_Input ISIC2018_Task1_Training_GroundTruth
ISIC2018_Task1-2_Validation_Input ISIC2018_Task1_Validation_GroundTruth
ISIC2018_Task1-2_Test_Input ISIC2018_Task1_Test_GroundTruth"
# NCI-ISBI 2013: label archives and .tcia manifests on TCIA; the series through the NBIA REST API.
TCIA_BASE_URL="https://www.cancerimagingarchive.net/wp-content/uploads"
NCI_SUBSETS="Training Leaderboard Test"
NBIA_API=${FGI_NBIA_API:-https://services.cancerimagingarchive.net/nbia-api/services/v1}

usage() {
    cat <<'EOF'
Usage: data_download.sh [--data-dir DIR] [--only NAME]... [--dry-run] [--help]

Fetch the public datasets used by FGI into a data folder, verify every file by sha256 and
prepare them for the readers (fgi_core.data).

Options:
  --data-dir DIR   where to put the data (default: ./data). Layout afterwards:
                     DIR/kvasir-seg/images/*.jpg, DIR/kvasir-seg/masks/*.jpg
                     DIR/gazemedseg/kvasir_fixation.csv, DIR/gazemedseg/nci-isbi_fixation.csv
                     DIR/isic2018/ISIC2018_Task1-2_Training_Input/*.jpg, .../ISIC2018_Task1_Training_GroundTruth/
                       (and Validation, Test), DIR/isic2018/splits/, DIR/isic2018/isic_fixation_simulated.csv
                     DIR/nci-isbi/images/<case>_<slice>.dcm, DIR/nci-isbi/masks/<case>_<slice>.png,
                       DIR/nci-isbi/splits/, DIR/nci-isbi/raw/ (the release as downloaded)
                     DIR/data_download.lock (sha256 of files that have no published checksum)
  --only NAME      fetch only this dataset; repeat it (or use commas) for several.
                   NAME is one of: kvasir, gazemedseg, isic, nci-isbi. Default: all of them.
  --dry-run        print what would be fetched and where; download and write nothing.
  -h, --help       show this help.

Datasets:
  kvasir       Kvasir-SEG, 1000 colonoscopy images + polyp masks (official zip, ~46 MB),
               each extracted file checked against fgi_core/data/manifests/kvasir_seg_sha256.csv.
  gazemedseg   GazeMedSeg eye-gaze fixations for Kvasir-SEG and NCI-ISBI (two CSVs, ~4 MB),
               checked against fgi_core/data/manifests/gazemedseg_sha256.txt.
  isic         ISIC 2018 task 1: training, validation and test input + ground truth (six zips,
               over 10 GB, most of it the training input). No published sums: the first download's
               are recorded in the lock file. Then splits and simulated gaze are prepared.
  nci-isbi     NCI-ISBI 2013 prostate MRI: the NRRD label archives (checked against
               fgi_core/data/manifests/nci_isbi_sha256.txt), the .tcia manifests and every
               DICOM series they list, fetched one by one from TCIA's NBIA REST API (no NBIA Data
               Retriever needed; 80 series). Then the 2D slices with prostate are
               prepared as GazeMedSeg does (images/<case>_<slice>.dcm, masks/, splits/).

Behaviour:
  - Downloads go to NAME.part and are renamed only after they pass the checks; a partial
    .part file left by an interrupted run is resumed (curl -C -).
  - Files that are already present and verified are skipped ("already verified"); a dataset
    that is already prepared from the same verified files is not prepared again.
  - Where no checksum is published (ISIC zips, TCIA manifests and series), the sha256 of the
    first download is recorded in DIR/data_download.lock, with a NOTE saying so, and every
    later run verifies against it. Delete a line there to accept a changed file.
  - A sha256 mismatch deletes the bad file and exits with status 1, naming the file and both sums.
  - An HTML page where a file was expected (a login or error page) is deleted and reported.
  - Exit status: 0 on success, 1 on a failed download, check or preparation, 2 on a usage error.

Environment variables:
  FGI_MIRROR            a folder, or a file:// (or http[s]://) URL, that replaces the original hosts:
                        each file is taken from $FGI_MIRROR/<file name>, i.e. kvasir-seg.zip,
                        kvasir_fixation.csv, nci-isbi_fixation.csv, ISIC2018_*.zip,
                        NCI-ISBI-2013-Prostate-Challenge-*.zip, ISBI-Prostate-Challenge-*.tcia,
                        and <SeriesInstanceUID>.zip for each DICOM series. A plain folder is copied with cp.
  FGI_PYTHON            the Python that prepares ISIC and NCI-ISBI (default: .venv/bin/python
                        beside this script if present, else python3); it needs fgi_core,
                        pydicom and pynrrd (`make setup` installs them).
  FGI_NBIA_API          base URL of TCIA's NBIA API (default: the public v1 service).
  FGI_LOCK_FILE         where first-download sums are recorded (default: DIR/data_download.lock).
  FGI_KVASIR_MANIFEST   CSV (file,image_sha256,mask_sha256) that replaces the shipped Kvasir-SEG sums.
  FGI_GAZEMEDSEG_SUMS   sha256sum-format file that replaces the shipped GazeMedSeg sums.
  FGI_NCI_ISBI_SUMS     sha256sum-format file that replaces the shipped NCI-ISBI label-archive sums.
                        These three are for tests, and for mirrors that hold other contents;
                        normal use needs none of them.
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

# Paths removed when the script exits (temporary extraction folders), and folders this run
# created that are still empty then (a failed download leaves no empty data/<name>/ behind).
CLEANUP=""
MADE_DIRS=""
make_dir() {
    local top=$1
    while [ ! -d "$top" ] && [ "$top" != "/" ] && [ "$top" != "." ]; do
        MADE_DIRS="$MADE_DIRS
$top"  # deepest first, so that rmdir empties them bottom-up
        top=$(dirname "$top")
    done
    mkdir -p -- "$1"
}
cleanup() {
    local d
    for d in $MADE_DIRS; do rmdir -- "$d" 2>/dev/null || true; done
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

# resolve_source URL [MIRROR_NAME]: sets SRC (URL or path) and SRC_KIND (url | dir). In a
# mirror the file is MIRROR_NAME, by default the URL's last path part.
resolve_source() {
    local url=$1 name=${2:-}
    [ -n "$name" ] || name=${url##*/}
    case "$MIRROR_KIND" in
        dir) SRC="${MIRROR%/}/$name"; SRC_KIND=dir ;;
        url) SRC="${MIRROR%/}/$name"; SRC_KIND=url ;;
        *) SRC=$url; SRC_KIND=url ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------
check_tools() {
    local missing="" t
    have awk || missing="$missing awk"
    if ! have sha256sum && ! have shasum; then missing="$missing sha256sum"; fi
    if selected kvasir || selected isic || selected nci-isbi; then
        have unzip || missing="$missing unzip"
    fi
    if [ "$MIRROR_KIND" != dir ]; then
        have curl || missing="$missing curl"
    fi
    for t in mktemp head tr wc find sort; do
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

terms_isic() {
    cat <<'EOF2'
== ISIC 2018 task 1: skin lesion segmentation (International Skin Imaging Collaboration) ==
Terms: CC BY-NC 4.0 (attribution, non-commercial), as stated on https://challenge.isic-archive.com/data/
       and in the LICENSE / ATTRIBUTION files inside the zips; keep those files with the images.
Cite:  N. Codella et al., "Skin Lesion Analysis Toward Melanoma Detection 2018: A Challenge Hosted
       by the International Skin Imaging Collaboration (ISIC)", arXiv 1902.03368; and
       P. Tschandl, C. Rosendahl, H. Kittler, "The HAM10000 dataset, a large collection of
       multi-source dermatoscopic images of common pigmented skin lesions", Scientific Data 2018.
Gaze:  none was ever recorded on ISIC; fgi_core simulates it from the masks (flagged "simulated").
EOF2
}

terms_nci_isbi() {
    cat <<'EOF2'
== NCI-ISBI 2013: prostate MRI segmentation (TCIA; images from Prostate-3T and PROSTATE-DIAGNOSIS) ==
Terms: TCIA's Data Usage Policy and the licence named on the collection page,
       https://www.cancerimagingarchive.net/analysis-result/isbi-mr-prostate-2013/
       (doi:10.7937/K9/TCIA.2015.zF0vlOPv); acknowledge TCIA as that page asks.
Cite:  N. Bloch, A. Madabhushi, H. Huisman, J. Freymann, J. Kirby, M. Grauer, A. Enquobahrie,
       C. Jaffe, L. Clarke, K. Farahani, "NCI-ISBI 2013 Challenge: Automated Segmentation of
       Prostate Structures", The Cancer Imaging Archive, 2015, doi:10.7937/K9/TCIA.2015.zF0vlOPv; and
       K. Clark et al., "The Cancer Imaging Archive (TCIA)", Journal of Digital Imaging 26, 2013.
EOF2
}

# Printed when the DICOM series cannot be fetched automatically.
manual_nci_series() {
    cat <<EOF2
Manual route for the NCI-ISBI DICOM series (the label archives above are already verified):
  1. Install TCIA's NBIA Data Retriever (linked from the collection page above, under data access).
  2. Open each manifest with it and download into $DATA_DIR/nci-isbi/retriever/:
       $DATA_DIR/nci-isbi/raw/ISBI-Prostate-Challenge-Training.tcia
       $DATA_DIR/nci-isbi/raw/ISBI-Prostate-Challenge-LeaderBoard.tcia
       $DATA_DIR/nci-isbi/raw/ISBI-Prostate-Challenge-Testing.tcia
     (or get them from $TCIA_BASE_URL/).
  3. Prepare the slices:
       python -m fgi_core.data.prepare nci-isbi $DATA_DIR/nci-isbi/raw $DATA_DIR/nci-isbi --dicom $DATA_DIR/nci-isbi/retriever
EOF2
}

# ---------------------------------------------------------------------------------------------
# GazeMedSeg: two CSVs, each with a known sha256
# ---------------------------------------------------------------------------------------------
GAZE_SUMS=${FGI_GAZEMEDSEG_SUMS:-$MANIFEST_DIR/gazemedseg_sha256.txt}

do_gazemedseg() {
    local dir="$DATA_DIR/gazemedseg" name url dest expected
    [ -f "$GAZE_SUMS" ] || die "GazeMedSeg checksum file not found: $GAZE_SUMS (it ships with the repository under fgi_core/data/manifests/; FGI_GAZEMEDSEG_SUMS can point elsewhere)"
    for name in $GAZE_FILES; do
        url="$GAZE_BASE_URL/$name"
        dest="$dir/$name"
        expected=$(expected_sum "$GAZE_SUMS" "$name")
        if [ $DRY_RUN -eq 1 ]; then
            resolve_source "$url"  # get_file resolves it for a real fetch
            say "  would fetch $SRC"
            say "        into $dest (sha256 $expected)"
            [ -f "$dest" ] && say "        ($dest exists: it would be checked and skipped if it matches)"
            continue
        fi
        get_file "$url" "$dest" "gazemedseg/$name" "$expected"
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
# the lock file: sha256 of files without a published checksum, recorded at first download
# ---------------------------------------------------------------------------------------------
# Lines are "<sha256>  <path relative to DATA_DIR>" (sha256sum's format), so `cd DATA_DIR &&
# sha256sum -c data_download.lock` checks everything by hand too. Comment lines start with '#'.
LOCK=${FGI_LOCK_FILE:-$DATA_DIR/data_download.lock}
RECORDED=0   # how many first-download sums this run recorded

lock_header() {
    printf '%s\n' "# data_download.sh: sha256 of downloaded files that have no published checksum, recorded at" \
        "# their first download, and of the files extracted from each verified archive; every later run" \
        "# verifies against them. Delete a file's line(s) to accept a changed file." \
        "# Check by hand: cd <data folder> && sha256sum -c --ignore-missing data_download.lock"
}

# lock_get KEY: the recorded sum of KEY, or nothing.
lock_get() {
    [ -f "$LOCK" ] || return 0
    awk -v k="$1" '!/^#/ && substr($0, 67) == k { s = $1 } END { if (s != "") print s }' "$LOCK"
}

# lock_entries PREFIX: the lines whose path starts with PREFIX.
lock_entries() {
    [ -f "$LOCK" ] || return 0
    awk -v p="$1" '!/^#/ && NF >= 2 && index(substr($0, 67), p) == 1' "$LOCK"
}

# lock_replace MODE KEY LINES_FILE: drop the lines whose path equals KEY (MODE=exact) or starts
# with it (MODE=prefix), then append LINES_FILE; written to a temporary file, then renamed.
lock_replace() {
    local mode=$1 key=$2 lines=$3 tmp
    mkdir -p -- "$(dirname "$LOCK")"
    tmp=$(mktemp "$LOCK.XXXXXX")
    {
        if [ -f "$LOCK" ]; then
            awk -v k="$key" -v m="$mode" '
                /^#/ { print; next }
                { p = substr($0, 67) }
                m == "exact" && p == k { next }
                m == "prefix" && index(p, k) == 1 { next }
                { print }' "$LOCK"
        else
            lock_header
        fi
        cat -- "$lines"
    } >"$tmp" || { rm -f -- "$tmp"; die "cannot write the lock file $LOCK"; }
    mv -f -- "$tmp" "$LOCK"
}

lock_record_file() {  # KEY SUM
    local lines
    lines=$(mktemp "${TMPDIR:-/tmp}/fgi-lock.XXXXXX")
    printf '%s  %s\n' "$2" "$1" >"$lines"
    lock_replace exact "$1" "$lines"
    rm -f -- "$lines"
}

# sums_of_tree REL: sha256sum lines for every file under DATA_DIR/REL, paths relative to DATA_DIR.
sums_of_tree() {
    local rel=$1 sumcmd
    if have sha256sum; then sumcmd="sha256sum"; else sumcmd="shasum -a 256"; fi
    # shellcheck disable=SC2086  # $sumcmd is "sha256sum" or "shasum -a 256"
    (cd "$DATA_DIR" && find "$rel" -type f ! -name '*.part' -exec $sumcmd {} + | LC_ALL=C sort -k 2)
}

# check_lines LINES_FILE: `sha256sum -c` from DATA_DIR; prints the failures; 0 when all match.
check_lines() {
    local lines=$1
    if have sha256sum; then
        (cd "$DATA_DIR" && sha256sum -c --quiet -- "$lines" 2>&1)
    else
        (cd "$DATA_DIR" && shasum -a 256 -c -q -- "$lines" 2>&1)
    fi
}

# tree_verified REL: 0 when the lock holds sums for files under REL/ and all of them match.
tree_verified() {
    local rel=$1 lines rc=0
    [ -d "$DATA_DIR/$rel" ] || return 1
    lines=$(mktemp "${TMPDIR:-/tmp}/fgi-check.XXXXXX")
    lock_entries "$rel/" >"$lines"
    if [ ! -s "$lines" ]; then rm -f -- "$lines"; return 1; fi
    check_lines "$lines" >/dev/null 2>&1 || rc=1
    rm -f -- "$lines"
    return $rc
}

# record_tree REL WHAT LOUD: record (or check against an earlier record) the sums of the files
# under REL. With an earlier record, the files must match it exactly; the tree is deleted if they
# do not. LOUD=1: these files have no published sums at all (say so); 0: they come from an
# archive verified by its own sum (their sums let later runs check them without the archive).
record_tree() {
    local rel=$1 what=$2 loud=$3 lines old n
    lines=$(mktemp "${TMPDIR:-/tmp}/fgi-tree.XXXXXX")
    old=$(mktemp "${TMPDIR:-/tmp}/fgi-old.XXXXXX")
    sums_of_tree "$rel" >"$lines" || { rm -f -- "$lines" "$old"; die "cannot compute sha256 sums under $DATA_DIR/$rel"; }
    lock_entries "$rel/" | LC_ALL=C sort -k 2 >"$old"
    n=$(wc -l <"$lines" | tr -d ' ')
    if [ -s "$old" ]; then
        if [ "$(sha256_of "$old")" != "$(sha256_of "$lines")" ]; then
            say "  the files of $what differ from the sums recorded in $LOCK at their first download:" >&2
            check_lines "$old" | head -n 10 >&2 || true
            rm -f -- "$lines" "$old"
            rm -rf -- "${DATA_DIR:?}/$rel"
            die "sha256 check of $what failed against the lock file $LOCK (deleted $DATA_DIR/$rel). If the host really changed the files, delete the lines starting with '$rel/' from $LOCK and run again."
        fi
        say "  verified: $n files of $what match the sums recorded in $LOCK"
    else
        lock_replace prefix "$rel/" "$lines"
        if [ "$loud" = 1 ]; then
            RECORDED=$((RECORDED + n))
            say "  NOTE: no published checksums exist for $what: recorded the sha256 of its $n files in $LOCK;"
            say "        every later run verifies them against it."
        else
            say "  verified: $DATA_DIR/$rel ($n files; their sums are kept in $LOCK for later runs)"
        fi
    fi
    rm -f -- "$lines" "$old"
}

# expected_sum SUMS_FILE NAME: the sum listed for NAME (sha256sum format, '#' comments allowed).
expected_sum() {
    local sums=$1 name=$2 sum
    [ -f "$sums" ] || die "checksum file not found: $sums"
    sum=$(awk -v n="$name" '{
            sub(/\r$/, "")
            if ($0 ~ /^#/ || NF < 2) next
            f = $2; sub(/^\*/, "", f); sub(/^.*\//, "", f)
            if (f == n) { print tolower($1); exit }
        }' "$sums")
    case "$sum" in
        [0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;;
        *) die "no sha256 for $name in $sums" ;;
    esac
    [ ${#sum} -eq 64 ] || die "malformed sha256 for $name in $sums: $sum"
    printf '%s\n' "$sum"
}

# get_file URL DEST KEY EXPECTED [MIRROR_NAME]: DEST complete and verified afterwards, or exit.
# EXPECTED is a published sum, or empty: then the lock's sum for KEY is used, and where the lock
# has none, the download's sum is recorded there (loudly).
get_file() {
    local url=$1 dest=$2 key=$3 expected=$4 name=${5:-} part actual locked
    part="$dest.part"
    resolve_source "$url" "$name"
    locked=""
    [ -n "$expected" ] || locked=$(lock_get "$key")
    if [ -f "$dest" ]; then
        actual=$(sha256_of "$dest")
        if [ -n "$expected$locked" ] && [ "$actual" = "$expected$locked" ]; then
            say "  already verified: $dest"
            return 0
        fi
        if [ -n "$expected$locked" ]; then
            warn "$dest exists but its sha256 is $actual, not $expected$locked: fetching it again"
        else
            warn "$dest exists but has no recorded sha256 in $LOCK: fetching it again"
        fi
        rm -f -- "$dest"
    fi
    make_dir "$(dirname "$dest")"
    fetch "$SRC" "$SRC_KIND" "$part"
    reject_html "$part" "$SRC"
    actual=$(sha256_of "$part")
    if [ -n "$expected" ] && [ "$actual" != "$expected" ]; then
        rm -f -- "$part"
        die "sha256 mismatch for ${dest##*/} (from $SRC): expected $expected, actual $actual. The bad file was deleted."
    fi
    if [ -n "$locked" ] && [ "$actual" != "$locked" ]; then
        rm -f -- "$part"
        die "sha256 mismatch for ${dest##*/} (from $SRC): expected $locked (recorded in $LOCK at the first download), actual $actual. The bad file was deleted. If the host really publishes a new version, delete the line for $key in $LOCK and run again."
    fi
    mv -f -- "$part" "$dest"
    if [ -z "$expected$locked" ]; then
        lock_record_file "$key" "$actual"
        RECORDED=$((RECORDED + 1))
        say "  NOTE: no published checksum exists for ${dest##*/}: recorded its sha256 $actual"
        say "        in $LOCK; every later run verifies against it."
    else
        say "  verified: $dest"
    fi
}

# extract_zip ZIP DEST_REL TOP WHAT LOUD: unzip ZIP so that DATA_DIR/DEST_REL holds the contents
# of its folder TOP (or of the whole archive when it has no such folder), then verify or record
# the files in the lock (record_tree), and delete the archive.
extract_zip() {
    local zip=$1 rel=$2 top=$3 what=$4 loud=$5 tmp src
    if ! unzip -tq "$zip" >/dev/null 2>&1; then
        rm -f -- "$zip"
        die "the archive $zip is damaged or not a zip file (unzip -t failed); deleted it. Run the script again to download it afresh."
    fi
    tmp=$(mktemp -d "$DATA_DIR/.extract.XXXXXX")
    CLEANUP="$CLEANUP
$tmp"
    unzip -q "$zip" -d "$tmp" || { rm -rf -- "$tmp"; die "cannot extract $zip"; }
    src=$tmp
    [ -n "$top" ] && [ -d "$tmp/$top" ] && src="$tmp/$top"
    mkdir -p -- "$(dirname "$DATA_DIR/$rel")"
    rm -rf -- "${DATA_DIR:?}/$rel"
    mv -- "$src" "$DATA_DIR/$rel"
    rm -rf -- "$tmp"
    rm -f -- "$zip"
    record_tree "$rel" "$what" "$loud"
}

# archive URL REL TOP WHAT EXPECTED [MIRROR_NAME]: one zip whose contents go to DATA_DIR/REL.
archive() {
    local url=$1 rel=$2 top=$3 what=$4 expected=$5 name=${6:-} zip
    zip="$DATA_DIR/$rel.zip"
    if [ $DRY_RUN -eq 1 ]; then
        resolve_source "$url" "$name"
        say "  would fetch $SRC"
        if [ -n "$expected" ]; then
            say "        into $zip (sha256 $expected), then extract it into $DATA_DIR/$rel/"
        elif [ -n "$(lock_get "$rel.zip")" ]; then
            say "        into $zip (sha256 $(lock_get "$rel.zip") from $LOCK), then extract it into $DATA_DIR/$rel/"
        else
            say "        into $zip (no published sha256: the first download's is recorded in $LOCK), then extract it into $DATA_DIR/$rel/"
        fi
        [ -d "$DATA_DIR/$rel" ] && say "        ($DATA_DIR/$rel exists: it would be checked and skipped if it matches)"
        return 0
    fi
    if tree_verified "$rel"; then
        say "  already verified: $DATA_DIR/$rel ($(lock_entries "$rel/" | wc -l | tr -d ' ') files match $LOCK)"
        return 0
    fi
    [ -d "$DATA_DIR/$rel" ] && warn "$DATA_DIR/$rel does not match the sums in $LOCK (or has none): fetching it again"
    get_file "$url" "$zip" "$rel.zip" "$expected" "$name"
    say "  extracting $zip"
    extract_zip "$zip" "$rel" "$top" "$what" 0
}

# ---------------------------------------------------------------------------------------------
# preparation (Python): ISIC splits + simulated gaze; NCI-ISBI slices, masks, splits
# ---------------------------------------------------------------------------------------------
find_python() {
    if [ -n "${FGI_PYTHON:-}" ]; then
        PY=$FGI_PYTHON
    elif [ -x "$SCRIPT_DIR/.venv/bin/python" ]; then
        PY="$SCRIPT_DIR/.venv/bin/python"
    else
        PY=python3
    fi
}

# prepare NAME STAMP_PREFIX ARGS...: run `python -m fgi_core.data.prepare ARGS`, unless the stamp
# shows the same verified input files were prepared before.
prepare() {
    local name=$1 prefix=$2 stamp digest
    shift 2
    stamp="$DATA_DIR/$name/.prepared"
    find_python
    if [ $DRY_RUN -eq 1 ]; then
        say "  would prepare: $PY -m fgi_core.data.prepare $*"
        return 0
    fi
    digest=$(lock_entries "$prefix" | LC_ALL=C sort -k 2 | sha256_stdin)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        say "  already prepared: $DATA_DIR/$name (from the same verified files)"
        return 0
    fi
    if ! (cd "$SCRIPT_DIR" && PYTHONPATH="$SCRIPT_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c 'import fgi_core.data, pydicom, nrrd') >/dev/null 2>&1; then
        die "cannot prepare $name: '$PY' cannot import fgi_core, pydicom and pynrrd. Install the project (make setup), or set FGI_PYTHON to a Python that has them, and run the script again (the downloads are kept), or run: python -m fgi_core.data.prepare $*"
    fi
    say "  preparing: python -m fgi_core.data.prepare $*"
    rm -f -- "$stamp"
    (cd "$SCRIPT_DIR" && PYTHONPATH="$SCRIPT_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m fgi_core.data.prepare "$@") \
        || die "the preparation of $name failed (see the message above)"
    printf '%s\n' "$digest" >"$stamp"
}

sha256_stdin() {
    local out
    if have sha256sum; then out=$(sha256sum); else out=$(shasum -a 256); fi
    printf '%s\n' "${out%% *}"
}

# ---------------------------------------------------------------------------------------------
# ISIC 2018 task 1: six zips without published sums
# ---------------------------------------------------------------------------------------------
do_isic() {
    local name
    for name in $ISIC_ZIPS; do
        archive "$ISIC_BASE_URL/$name.zip" "isic2018/$name" "$name" "ISIC 2018 $name" ""
    done
    prepare isic2018 "isic2018/" isic "$DATA_DIR/isic2018"
}

# ---------------------------------------------------------------------------------------------
# NCI-ISBI 2013: label archives (known sums), manifests and series (recorded at first download)
# ---------------------------------------------------------------------------------------------
NCI_SUMS=${FGI_NCI_ISBI_SUMS:-$MANIFEST_DIR/nci_isbi_sha256.txt}

nci_manifest_name() {  # SUBSET -> the .tcia file name TCIA uses
    case $1 in
        Training) printf '%s\n' "ISBI-Prostate-Challenge-Training.tcia" ;;
        Leaderboard) printf '%s\n' "ISBI-Prostate-Challenge-LeaderBoard.tcia" ;;
        Test) printf '%s\n' "ISBI-Prostate-Challenge-Testing.tcia" ;;
    esac
}

# Series UIDs listed in a .tcia manifest (the lines after ListOfSeriesToDownload=).
manifest_series() {
    awk '{ sub(/\r$/, "") } /^ListOfSeriesToDownload=/ { on = 1; next } on && /^[0-9][0-9.]*[0-9]$/ { print }' "$1"
}

do_nci_series() {
    local subset=$1 manifest=$2 uid rel url n=0 total
    total=$(manifest_series "$manifest" | wc -l | tr -d ' ')
    [ "$total" -gt 0 ] || die "the manifest $manifest lists no series (no lines after ListOfSeriesToDownload=)"
    say "  $total DICOM series listed in ${manifest##*/}"
    for uid in $(manifest_series "$manifest"); do
        n=$((n + 1))
        rel="nci-isbi/raw/dicom/$subset/$uid"
        url="$NBIA_API/getImage?NewFileNames=Yes&SeriesInstanceUID=$uid"
        if tree_verified "$rel"; then
            say "  already verified: series $n/$total $uid"
            continue
        fi
        resolve_source "$url" "$uid.zip"
        say "  series $n/$total: $uid"
        mkdir -p -- "$DATA_DIR/nci-isbi/raw/dicom/$subset"
        if ! (fetch "$SRC" "$SRC_KIND" "$DATA_DIR/$rel.zip.part"); then
            manual_nci_series >&2
            die "cannot fetch the DICOM series $uid from TCIA's NBIA API (see above); the manual route is printed above"
        fi
        reject_html "$DATA_DIR/$rel.zip.part" "$SRC"
        mv -f -- "$DATA_DIR/$rel.zip.part" "$DATA_DIR/$rel.zip"
        extract_zip "$DATA_DIR/$rel.zip" "$rel" "" "series $uid" 1
        if ! find "$DATA_DIR/$rel" -name '*.dcm' -type f | head -n 1 | grep -q .; then
            rm -rf -- "${DATA_DIR:?}/$rel"
            die "the download of series $uid from $SRC holds no .dcm file; deleted it"
        fi
    done
}

do_nci_isbi() {
    local subset zip manifest mname
    [ -f "$NCI_SUMS" ] || die "NCI-ISBI checksum file not found: $NCI_SUMS (it ships with the repository under fgi_core/data/manifests/; FGI_NCI_ISBI_SUMS can point elsewhere)"
    for subset in $NCI_SUBSETS; do
        zip="NCI-ISBI-2013-Prostate-Challenge-$subset"
        archive "$TCIA_BASE_URL/$zip.zip" "nci-isbi/raw/labels/$zip" "" "the $subset labels" "$(expected_sum "$NCI_SUMS" "$zip.zip")"
    done
    for subset in $NCI_SUBSETS; do
        mname=$(nci_manifest_name "$subset")
        manifest="$DATA_DIR/nci-isbi/raw/$mname"
        if [ $DRY_RUN -eq 1 ]; then
            resolve_source "$TCIA_BASE_URL/$mname"
            say "  would fetch $SRC into $manifest (sha256 recorded in $LOCK at first download)"
            say "        and every DICOM series it lists, from $NBIA_API/getImage (mirror: <SeriesInstanceUID>.zip),"
            say "        into $DATA_DIR/nci-isbi/raw/dicom/$subset/<SeriesInstanceUID>/"
            continue
        fi
        get_file "$TCIA_BASE_URL/$mname" "$manifest" "nci-isbi/raw/$mname" ""
        do_nci_series "$subset" "$manifest"
    done
    prepare nci-isbi "nci-isbi/raw/" nci-isbi "$DATA_DIR/nci-isbi/raw" "$DATA_DIR/nci-isbi"
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
[ -n "${FGI_NCI_ISBI_SUMS:-}" ] && say "NCI-ISBI label sums from FGI_NCI_ISBI_SUMS=$FGI_NCI_ISBI_SUMS"
say ""

DONE=""
for name in $SELECTED; do
    case $name in
        kvasir) terms_kvasir; do_kvasir ;;
        gazemedseg) terms_gazemedseg; do_gazemedseg ;;
        isic) terms_isic; do_isic ;;
        nci-isbi) terms_nci_isbi; do_nci_isbi ;;
    esac
    DONE="$DONE $name"
    say ""
done

if [ $DRY_RUN -eq 1 ]; then
    say "Dry run finished; nothing was written."
    exit 0
fi
if [ "$RECORDED" -gt 0 ]; then
    say "NOTE: this run recorded the sha256 of $RECORDED downloaded file(s) that have no published checksum"
    say "      in $LOCK. Later runs verify those files against it; keep the file with the data."
fi
say "Done and verified:$DONE"
exit 0
