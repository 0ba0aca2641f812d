# Sourced (not a stage: .ci/run runs only .ci/stages/*.sh) by
# .ci/stages/40-firmware.sh and footprint/run.sh, which build for a Cortex-M3
# and run the result under QEMU.
#
# thumb_qemu_tools TARGET: installs what is missing, and only that:
# qemu-system-arm and binutils-arm-none-eabi with apt-get (as root or through
# sudo; `apt-get update` only if the install fails without it), and the
# rust target TARGET with rustup.
thumb_qemu_tools() {
    local target=$1 need_apt=() sudo=()
    command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
    command -v arm-none-eabi-size >/dev/null || need_apt+=(binutils-arm-none-eabi)
    if [ ${#need_apt[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            sudo=(sudo)
        fi
        echo "installing ${need_apt[*]}"
        if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}"; then
            "${sudo[@]}" apt-get update
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}"
        fi
    else
        echo "qemu-system-arm and arm-none-eabi-size already installed"
    fi
    qemu-system-arm --version | head -n 1

    if rustup target list --installed | grep -qx "$target"; then
        echo "target $target already installed"
    else
        rustup target add "$target"
    fi
}
