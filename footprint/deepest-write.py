#!/usr/bin/env python3
"""Where a footprint firmware's peak stack comes from.

Usage (after `./run.sh` built the firmwares):

    python3 deepest-write.py target/thumbv7m-none-eabi/release/twinkv-reopen

Runs the firmware under QEMU (mps2-an385, Cortex-M3) one instruction at a
time with its register trace, decodes every store and push from the
firmware's own disassembly, and finds the lowest stack address written
(outside the stack painter's `paint` and `peak`, whose writes are the
measurement itself). Prints that address, the instruction that wrote it and
the call chain at that moment: for each frame, its stack pointer, a program
counter in it and the function and source line (`arm-none-eabi-addr2line`,
inlined code named where it was written). A frame's size is the difference
of two stack pointers in the chain.

That is the path to shorten when a row's peak stack grows. It is the word
`run.sh`'s stack painting finds; `run.sh` counts from the top of the painted
area, so its figure is smaller than the distance from the top of RAM printed
here by the start-up frames above the work function (136 B on the reboot row:
2,164 B here for its 2,028 B). It found, for example, that merging
two branches grew the replay's `IndexSink::record` frame from 172 B to 212 B
on the reboot row. Slow (a few minutes per firmware, it traces every
instruction); needs qemu-system-arm and binutils-arm-none-eabi, as `run.sh`.
"""
import re
import subprocess
import sys

# The top 64 KiB of the 256-KiB RAM of memory.x: the stack.
STACK_LO, STACK_HI = 0x2003_0000, 0x2004_0000
REG = {"sp": 13, "lr": 14, "pc": 15, "fp": 11, "ip": 12, "sl": 10, "sb": 9}


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def reg_number(name):
    name = name.strip()
    if name in REG:
        return REG[name]
    return int(name[1:]) if name.startswith("r") and name[1:].isdigit() else None


def main(binary):
    disassembly = {}
    for line in run("arm-none-eabi-objdump", "-d", "--no-show-raw-insn", binary).splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t(\S+)\s*(.*)$", line)
        if m:
            disassembly[int(m.group(1), 16)] = (m.group(2), m.group(3))
    # The stack painter's own functions: their writes do not count.
    excluded = []
    for line in run("arm-none-eabi-nm", "-S", "-C", binary).splitlines():
        f = line.split()
        if len(f) >= 4 and ("stack::paint" in line or "stack::peak" in line):
            start = int(f[0], 16)
            excluded.append((start, start + int(f[1], 16)))

    qemu = subprocess.Popen(
        ["qemu-system-arm", "-cpu", "cortex-m3", "-machine", "mps2-an385", "-nographic",
         "-semihosting-config", "enable=on,target=native", "-kernel", binary,
         "-singlestep", "-d", "cpu,nochain", "-D", "/dev/stdout"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    regs = [0] * 16
    chain = []  # (sp, pc) of each frame, outermost first
    lowest, lowest_chain, lowest_pc = 1 << 40, [], 0
    for line in qemu.stdout:
        if not line.startswith("R"):
            continue
        for field in line.split():
            if field[0] == "R" and field[3:4] == "=" and field[1:3].isdigit():
                regs[int(field[1:3])] = int(field[4:], 16)
        # The trace prints R00..R15 over four lines; act once all are read.
        if not line.startswith("R12="):
            continue
        sp, pc = regs[13], regs[15]
        while chain and chain[-1][0] < sp:
            chain.pop()
        if not chain or sp < chain[-1][0]:
            chain.append((sp, pc))
        ins = disassembly.get(pc)
        if not ins:
            continue
        op, args = ins
        addr = None
        if op.startswith("push") or (op.startswith("stmdb") and args.startswith("sp!")):
            addr = sp - 4 * len(args[args.index("{") + 1:args.index("}")].split(","))
        elif op.startswith("stm"):
            addr = regs[reg_number(re.match(r"([a-z0-9]+)", args).group(1))]
            if "db" in op:
                addr -= 4 * len(args[args.index("{") + 1:args.index("}")].split(","))
        elif op.startswith(("str", "vst", "vpush")):
            m = re.search(r"\[([a-z0-9]+)(?:,\s*#(-?\d+))?(?:,\s*([a-z0-9]+))?", args)
            if m and reg_number(m.group(1)) is not None:
                addr = regs[reg_number(m.group(1))] + (int(m.group(2)) if m.group(2) else 0)
                if m.group(3) and reg_number(m.group(3)) is not None:
                    addr += regs[reg_number(m.group(3))]
        if (addr is not None and STACK_LO <= addr < STACK_HI and addr < lowest
                and not any(a <= pc < b for a, b in excluded)):
            lowest, lowest_chain, lowest_pc = addr, list(chain), pc
    if not lowest_chain:
        sys.exit("no stack write found")
    print("lowest stack write %#x (%d B below the top) at pc %#x"
          % (lowest, STACK_HI - lowest, lowest_pc))
    pcs = ["%x" % pc for _, pc in lowest_chain]
    names = run("arm-none-eabi-addr2line", "-f", "-C", "-s", "-e", binary, *pcs).splitlines()
    for i, (sp, pc) in enumerate(lowest_chain):
        print("sp %x  pc %x  %s  %s" % (sp, pc, names[2 * i][:120], names[2 * i + 1]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
