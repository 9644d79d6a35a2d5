#!/usr/bin/env python3
"""Disassembles the machine code C2 made of one method, without the hsdis plug-in.

Without hsdis, HotSpot's -XX:+PrintAssembly (or -XX:CompileCommand=print,...) still prints each compiled method's
code as hex words; this script takes the last top-tier (C2) compilation of a method from such a log, writes its bytes
to a file and disassembles them with binutils' objdump, so a kernel's inner loop can be read: range checks left in
it, spilled registers, boxed vectors (calls), whether broadcasts load from memory. Usage (JDK 25, from the root):

    . scripts/jdk25.sh
    java $D4J_JVM_FLAGS -XX:+UnlockDiagnosticVMOptions \\
        -XX:CompileCommand=print,dev.diffusion4j.tensor.cpu.Gemm::kernel \\
        -cp benchmarks/target/benchmarks.jar dev.diffusion4j.benchmarks.GemmTiming 3 1 4096x320x320 > /tmp/log.txt
    python3 scripts/c2-disasm.py /tmp/log.txt [Gemm::kernel] [--osr] > /tmp/kernel.s

The optional second argument picks the method when the log holds several; --osr takes the last on-stack-replacement
compilation instead of the last normal one (a method that runs one long loop may only have the former).
"""
import re
import subprocess
import sys
import tempfile

HEX_LINE = re.compile(r'\s+0x([0-9a-f]+): ([0-9a-f |]+?)\s*$')


def sections(lines):
    """(header, start address, code bytes) of every C2 compilation in the log."""
    out = []
    cur = None
    in_code = False
    for ln in lines:
        if ln.startswith('Compiled method'):
            cur = {'hdr': ln.strip(), 'start': None, 'bytes': bytearray()}
            in_code = False
            if '(c2)' in ln:
                out.append(cur)
            continue
        if cur is None:
            continue
        if ln.startswith('[MachCode]'):
            in_code = True
            continue
        if ln.startswith('[Stub Code]') or ln.startswith('[Exception Handler]') or ln.startswith('[/MachCode]'):
            in_code = False
            continue
        if not in_code:
            continue
        m = HEX_LINE.match(ln)
        if not m:
            continue
        addr = int(m.group(1), 16)
        data = bytes.fromhex(m.group(2).replace('|', '').replace(' ', ''))
        if cur['start'] is None:
            cur['start'] = addr
        expected = cur['start'] + len(cur['bytes'])
        if addr != expected:
            sys.exit(f'c2-disasm: {cur["hdr"]}: code not contiguous at {addr:#x} (expected {expected:#x})')
        cur['bytes'] += data
    return [s for s in out if s['start'] is not None]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith('--')]
    osr = '--osr' in argv
    if not args:
        sys.exit(__doc__)
    with open(args[0], errors='replace') as f:
        found = sections(f.read().split('\n'))
    if len(args) > 1:
        found = [s for s in found if args[1] in s['hdr']]
    found = [s for s in found if (' % ' in s['hdr']) == osr]
    if not found:
        sys.exit(f'c2-disasm: no {"OSR " if osr else ""}C2 compilation'
                 f'{" of " + args[1] if len(args) > 1 else ""} in {args[0]}')
    s = found[-1]
    print(f'# {s["hdr"]}: {len(s["bytes"])} bytes at {s["start"]:#x}')
    with tempfile.NamedTemporaryFile(suffix='.bin') as tmp:
        tmp.write(s['bytes'])
        tmp.flush()
        dis = subprocess.run(['objdump', '-D', '-b', 'binary', '-mi386:x86-64', f'--adjust-vma={s["start"]:#x}',
                              tmp.name], capture_output=True, text=True, check=True).stdout
    sys.stdout.write(dis)


if __name__ == '__main__':
    try:
        main(sys.argv)
    except BrokenPipeError:  # piped into head and the like
        sys.stderr.close()
