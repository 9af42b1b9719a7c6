#include "textflag.h"

// func addDenseFMA(acc []float64, row []float32, v float64)
//
// Sixteen conditions a round (four registers of four float64s), then
// four, then one at a time: a matcher's conditions are any number.
TEXT ·addDenseFMA(SB), NOSPLIT, $0-56
	MOVQ         acc_base+0(FP), DI
	MOVQ         row_base+24(FP), SI
	MOVQ         row_len+32(FP), CX
	VBROADCASTSD v+48(FP), Y0

sixteen:
	CMPQ        CX, $16
	JB          four
	VCVTPS2PD   (SI), Y1
	VCVTPS2PD   16(SI), Y2
	VCVTPS2PD   32(SI), Y3
	VCVTPS2PD   48(SI), Y4
	VFMADD213PD (DI), Y0, Y1
	VFMADD213PD 32(DI), Y0, Y2
	VFMADD213PD 64(DI), Y0, Y3
	VFMADD213PD 96(DI), Y0, Y4
	VMOVUPD     Y1, (DI)
	VMOVUPD     Y2, 32(DI)
	VMOVUPD     Y3, 64(DI)
	VMOVUPD     Y4, 96(DI)
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $16, CX
	JMP         sixteen

four:
	CMPQ        CX, $4
	JB          one
	VCVTPS2PD   (SI), Y1
	VFMADD213PD (DI), Y0, Y1
	VMOVUPD     Y1, (DI)
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $4, CX
	JMP         four

one:
	TESTQ       CX, CX
	JZ          done
	VCVTSS2SD   (SI), X1, X1
	VFMADD213SD (DI), X0, X1
	VMOVSD      X1, (DI)
	ADDQ        $4, SI
	ADDQ        $8, DI
	DECQ        CX
	JMP         one

done:
	VZEROUPPER
	RET
