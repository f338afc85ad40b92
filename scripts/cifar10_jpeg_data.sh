# Sourced by scripts/cifar10_lt_{table,gpu}.sh: make sure the CIFAR-10 JPEG copy is unpacked in
# $DATA (from $TARBALL when missing), never inside the repository.
if [ ! -d "$DATA/train" ] || [ ! -d "$DATA/test" ]; then
  repo=$(pwd -P)
  mkdir -p "$DATA"
  case "$(cd "$DATA" && pwd -P)/" in
    "$repo"/*) echo "refusing to unpack the CIFAR-10 copy inside the repository ($DATA); set CIFAR10_JPEG" >&2; exit 2 ;;
  esac
  [ -f "$TARBALL" ] || { echo "no $DATA/train and no tarball $TARBALL; set CIFAR10_JPEG or CIFAR10_JPEG_TAR" >&2; exit 2; }
  echo "unpacking $TARBALL into $DATA"
  tar xzf "$TARBALL" -C "$DATA"
fi
