#!/usr/bin/python3
"""What this CPU is, and how to run the benchmarks' two sides at one vector width: HotSpot's flags for our JMH
forks, and the environment that narrows OpenBLAS (numpy) and PyTorch the same way.

    /usr/bin/python3 scripts/cpu.py            # the CPU, its ISA, and the widths it can give

| width | JVM (every JMH fork) | OpenBLAS | PyTorch (ATen, oneDNN) |
|---|---|---|---|
| 512 | -XX:MaxVectorSize=64 | SkylakeX | avx512, AVX512_CORE |
| 256 | -XX:MaxVectorSize=32, and -XX:UseAVX=2 on an AVX-512 CPU (true AVX2: 16 registers) | Haswell | avx2, AVX2 |
| 128 | -XX:MaxVectorSize=16 (with FMA, close to NEON) | Nehalem (SSE, no FMA: OpenBLAS has no 128-bit FMA kernel) | default, SSE41 |
| native | none | its own choice | its own choice |

Not -XX:UseAVX=0: it also switches FMA off, and the Vector API's fma then falls back to a scalar crawl.
"""
import dataclasses
import os
import re
import subprocess
import sys

WIDTHS = ("native", "512", "256", "128")


@dataclasses.dataclass
class Machine:
    model: str         # "AMD EPYC (family 25, model 1)"
    arch: str          # x86_64 or aarch64
    flags: frozenset   # /proc/cpuinfo flags (x86) or Features (aarch64)

    def isa(self):
        """The vector ISA in words: what the widths are measured against."""
        f = self.flags
        if self.arch == "aarch64":
            return "NEON" + (" + SVE" if "sve" in f else "")
        parts = []
        if "avx512f" in f:
            parts.append("AVX-512 (" + " ".join(sorted(x for x in f if x.startswith("avx512"))) + ")")
        elif "avx2" in f:
            parts.append("AVX2, no AVX-512")
        elif "avx" in f:
            parts.append("AVX, no AVX2")
        else:
            parts.append("SSE only")
        parts.append("FMA" if "fma" in f else "no FMA")
        return ", ".join(parts)

    def widths(self):
        """The widths, in bits, that the JVM can be narrowed (or left) to on this CPU."""
        if self.arch == "aarch64":
            return {128}  # NEON; an SVE machine's own width only with --width native
        return {128} | ({256} if "avx2" in self.flags else set()) | ({512} if "avx512f" in self.flags else set())


def describe():
    """This machine's CPU, from /proc/cpuinfo (Linux)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = (s.strip() for s in line.split(":", 1))
                    fields.setdefault(k, v)
    except OSError:
        pass
    arch = os.uname().machine
    flags = frozenset((fields.get("flags") or fields.get("Features") or "").split())
    model = fields.get("model name") or fields.get("CPU part") or arch
    if "cpu family" in fields:
        model += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    return Machine(model, arch, flags)


@dataclasses.dataclass
class Width:
    bits: int          # 0 for native
    jvm_flags: list
    peer_env: dict

    @staticmethod
    def choose(name, machine):
        """The width named (native, 512, 256, 128), or ValueError naming what this CPU can give."""
        if name == "native":
            return Width(0, [], {})
        bits = int(name)
        if bits not in machine.widths():
            can = ", ".join(str(b) for b in sorted(machine.widths()))
            raise ValueError(f"--width {bits}: this CPU ({machine.model}; {machine.isa()}) cannot run {bits}-bit "
                             f"vectors; it can run {can} (or native)")
        if machine.arch == "aarch64":
            return Width(bits, [f"-XX:MaxVectorSize={bits // 8}"], {})
        flags = [f"-XX:MaxVectorSize={bits // 8}"]
        if bits == 256 and "avx512f" in machine.flags:
            flags.append("-XX:UseAVX=2")
        blas, aten, onednn = {512: ("SkylakeX", "avx512", "AVX512_CORE"), 256: ("Haswell", "avx2", "AVX2"),
                              128: ("Nehalem", "default", "SSE41")}[bits]
        return Width(bits, flags, {"OPENBLAS_CORETYPE": blas, "ATEN_CPU_CAPABILITY": aten,
                                   "ONEDNN_MAX_CPU_ISA": onednn, "DNNL_MAX_CPU_ISA": onednn})

    def apply_to_peers(self):
        """Sets the peers' environment; must run before numpy or torch is imported."""
        os.environ.update(self.peer_env)

    def peer_env_text(self):
        return " ".join(f"{k}={v}" for k, v in self.peer_env.items()) or "their own choice"


def java_vector_bits(java, flags):
    """The widest vector, in bits, of a JVM started with these flags: HotSpot's final MaxVectorSize."""
    out = subprocess.run([java, *flags, "-XX:+PrintFlagsFinal", "-version"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"\bMaxVectorSize\s*=\s*(\d+)", out)
    return int(m.group(1)) * 8 if m else 0


def main():
    m = describe()
    print(f"{m.model}; {m.arch}; {m.isa()}; widths: {', '.join(str(b) for b in sorted(m.widths()))} (and native)")
    for name in WIDTHS[1:]:
        try:
            w = Width.choose(name, m)
            print(f"  --width {name}: JVM {' '.join(w.jvm_flags)}; peers {w.peer_env_text()}")
        except ValueError as e:
            print(f"  {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
