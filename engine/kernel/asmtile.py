"""Addressing shared by the tile-kernel generators (gen_dotq.py, gen_dot8.py,
gen_dotk.py, gen_q4x8.py, gen_q4kx8.py), and the packed kernels' end. Their
kernels take up to four weight rows at SI, SI+R13, SI+2*R13 and SI+R14
(R14 = 3*R13), and up to four activation rows at DI, DI+BX, DI+2*BX and
DI+R12 (R12 = 3*BX), each prologue setting those strides.
"""


def W(c, off):
    """Address of byte off of weight row c's current block."""
    return [f"{off}(SI)", f"{off}(SI)(R13*1)", f"{off}(SI)(R13*2)", f"{off}(SI)(R14*1)"][c]


def X(r, off):
    """Address of byte off of activation row r's current block."""
    return [f"{off}(DI)", f"{off}(DI)(BX*1)", f"{off}(DI)(BX*2)", f"{off}(DI)(R12*1)"][r]


def tile_args(emit):
    """Loads a tile kernel's activations, weights, their strides (and 3×
    each) and block count into the registers that X and W address."""
    emit("\tMOVQ xq+16(FP), DI")
    emit("\tMOVQ ldx+24(FP), BX")
    emit("\tLEAQ (BX)(BX*2), R12")
    emit("\tMOVQ w+32(FP), SI")
    emit("\tMOVQ ldw+40(FP), R13")
    emit("\tLEAQ (R13)(R13*2), R14")
    emit("\tMOVQ nb+48(FP), CX")


def store_rows(emit, regs):
    """A kernel's end after its block loop (label done): the float
    accumulators regs stored ldo floats apart from out, then VZEROUPPER."""
    emit("done:")
    emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    for i, reg in enumerate(regs):
        if i:
            emit("\tADDQ AX, DI")
        emit(f"\tVMOVUPS {reg}, (DI)")
    emit("\tVZEROUPPER")
    emit("\tRET")


def unpack_nibbles(emit, addr, mask, gf=None):
    """Y0, Y1 = the low and high nibbles of the 32 bytes at addr (a packed
    chunk), mask holding bytes 0x0f; with gf, the register of a GFNI matrix
    that moves bits 4-7 to 0-3, one VGF2P8AFFINEQB takes the high ones
    where a shift and a mask did."""
    emit(f"\tVMOVDQU {addr}, Y0")
    if gf:
        emit(f"\tVGF2P8AFFINEQB $0, {gf}, Y0, Y1")
        emit(f"\tVPAND {mask}, Y0, Y0")
        return
    emit("\tVPSRLW $4, Y0, Y1")
    emit(f"\tVPAND {mask}, Y0, Y0")
    emit(f"\tVPAND {mask}, Y1, Y1")


def fifth_bits(emit, bits, t, dst, shuf="·dot8HShuf(SB)", sixteen="·dot8Sixteen(SB)"):
    """dst |= 16 in byte k where bit k of the 32-bit word at bits is set
    (ggml's bytes_from_bits_32: broadcast, VPSHUFB byte k/8 to byte k, OR
    all bits but k%8, compare with all-ones), through scratch t; shuf and
    sixteen may name registers holding those constants."""
    emit(f"\tVPBROADCASTD {bits}, {t}")
    emit(f"\tVPSHUFB {shuf}, {t}, {t}")
    emit(f"\tVPOR ·dot8HBits(SB), {t}, {t}")
    emit(f"\tVPCMPEQB ·dot8AllOnes(SB), {t}, {t}")
    emit(f"\tVPAND {sixteen}, {t}, {t}")
    emit(f"\tVPOR {t}, {dst}, {dst}")


def lane_sum8(emit, src, t, u):
    """X{t} = the 8 lanes of Y{src} summed in dot8.go's order, ((l0+l4) +
    (l2+l6)) + ((l1+l5)+(l3+l7)), in its low lane; X{u} is scratch."""
    emit(f"\tVEXTRACTF128 $1, Y{src}, X{t}")
    emit(f"\tVADDPS X{t}, X{src}, X{t}")
    emit(f"\tVMOVHLPS X{t}, X{t}, X{u}")
    emit(f"\tVADDPS X{u}, X{t}, X{t}")
    emit(f"\tVMOVSHDUP X{t}, X{u}")
    emit(f"\tVADDSS X{u}, X{t}, X{t}")
