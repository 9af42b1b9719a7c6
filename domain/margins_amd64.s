#include "textflag.h"

// func addDenseRowsFMA(acc *float64, rows *float32, refs *weightsRef, es *matcherEntry, count int, n int)
//
// count rows, the i-th n weights from rows[refs[i].at:] times
// float64(es[i].v), added to n margins from acc. Thirty-two margins at a
// time (eight registers of four float64s) stay in registers while every
// row adds to them, then four at a time, then one at a time: a
// matcher's conditions are any number. A hundred conditions take three
// rounds of 32 and one of four. Each row's weights are read 32 at a time,
// the first 32 of every row before the next 32 of any.
TEXT ·addDenseRowsFMA(SB), NOSPLIT, $0-48
	MOVQ acc+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ refs+16(FP), R8
	MOVQ es+24(FP), R9
	MOVQ count+32(FP), R10
	MOVQ n+40(FP), CX
	XORQ R11, R11 // where the round's margins start in a row, in bytes

thirtytwo:
	CMPQ    CX, $32
	JB      four
	LEAQ    (DI)(R11*2), AX // the round's margins
	VMOVUPD (AX), Y1
	VMOVUPD 32(AX), Y2
	VMOVUPD 64(AX), Y3
	VMOVUPD 96(AX), Y4
	VMOVUPD 128(AX), Y5
	VMOVUPD 160(AX), Y6
	VMOVUPD 192(AX), Y7
	VMOVUPD 224(AX), Y8
	MOVQ    R8, BX          // the row's ref
	MOVQ    R9, DX          // its entry
	MOVQ    R10, R12        // rows left

row32:
	MOVLQSX      (BX), R13
	LEAQ         (SI)(R13*4), R13
	ADDQ         R11, R13
	VCVTSS2SD    4(DX), X0, X0
	VBROADCASTSD X0, Y0
	VCVTPS2PD    (R13), Y9
	VCVTPS2PD    16(R13), Y10
	VCVTPS2PD    32(R13), Y11
	VCVTPS2PD    48(R13), Y12
	VCVTPS2PD    64(R13), Y13
	VCVTPS2PD    80(R13), Y14
	VCVTPS2PD    96(R13), Y15
	VFMADD231PD  Y9, Y0, Y1
	VFMADD231PD  Y10, Y0, Y2
	VFMADD231PD  Y11, Y0, Y3
	VFMADD231PD  Y12, Y0, Y4
	VFMADD231PD  Y13, Y0, Y5
	VFMADD231PD  Y14, Y0, Y6
	VFMADD231PD  Y15, Y0, Y7
	VCVTPS2PD    112(R13), Y9
	VFMADD231PD  Y9, Y0, Y8
	ADDQ         $8, BX
	ADDQ         $8, DX
	DECQ         R12
	JNZ          row32

	VMOVUPD Y1, (AX)
	VMOVUPD Y2, 32(AX)
	VMOVUPD Y3, 64(AX)
	VMOVUPD Y4, 96(AX)
	VMOVUPD Y5, 128(AX)
	VMOVUPD Y6, 160(AX)
	VMOVUPD Y7, 192(AX)
	VMOVUPD Y8, 224(AX)
	ADDQ    $128, R11
	SUBQ    $32, CX
	JMP     thirtytwo

four:
	CMPQ    CX, $4
	JB      one
	LEAQ    (DI)(R11*2), AX
	VMOVUPD (AX), Y1
	MOVQ    R8, BX
	MOVQ    R9, DX
	MOVQ    R10, R12

row4:
	MOVLQSX      (BX), R13
	LEAQ         (SI)(R13*4), R13
	ADDQ         R11, R13
	VCVTSS2SD    4(DX), X0, X0
	VBROADCASTSD X0, Y0
	VCVTPS2PD    (R13), Y9
	VFMADD231PD  Y9, Y0, Y1
	ADDQ         $8, BX
	ADDQ         $8, DX
	DECQ         R12
	JNZ          row4

	VMOVUPD Y1, (AX)
	ADDQ    $16, R11
	SUBQ    $4, CX
	JMP     four

one:
	TESTQ  CX, CX
	JZ     done
	LEAQ   (DI)(R11*2), AX
	VMOVSD (AX), X1
	MOVQ   R8, BX
	MOVQ   R9, DX
	MOVQ   R10, R12

row1:
	MOVLQSX     (BX), R13
	LEAQ        (SI)(R13*4), R13
	ADDQ        R11, R13
	VCVTSS2SD   4(DX), X0, X0
	VCVTSS2SD   (R13), X9, X9
	VFMADD231SD X9, X0, X1
	ADDQ        $8, BX
	ADDQ        $8, DX
	DECQ        R12
	JNZ         row1

	VMOVSD X1, (AX)
	ADDQ   $4, R11
	DECQ   CX
	JMP    one

done:
	VZEROUPPER
	RET
