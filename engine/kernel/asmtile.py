"""Addressing shared by the tile-kernel generators (gen_dotq.py, gen_dot8.py,
gen_dotk.py). Their kernels take up to four weight rows at SI, SI+R13,
SI+2*R13 and SI+R14 (R14 = 3*R13), and up to four activation rows at DI,
DI+BX, DI+2*BX and DI+R12 (R12 = 3*BX), each prologue setting those strides.
"""


def W(c, off):
    """Address of byte off of weight row c's current block."""
    return [f"{off}(SI)", f"{off}(SI)(R13*1)", f"{off}(SI)(R13*2)", f"{off}(SI)(R14*1)"][c]


def X(r, off):
    """Address of byte off of activation row r's current block."""
    return [f"{off}(DI)", f"{off}(DI)(BX*1)", f"{off}(DI)(BX*2)", f"{off}(DI)(R12*1)"][r]
