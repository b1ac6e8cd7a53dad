# Writes OUT, a C file defining api_openapi_yaml (the bytes of IN, with a
# NUL after them) and api_openapi_yaml_len, so the binary serves the
# document it was built with. Run as: cmake -DIN=... -DOUT=... -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE "${OUT}.tmp"
     "/* Generated from api/openapi.yaml by api/embed.cmake: do not edit. */\n"
     "#include <stddef.h>\n"
     "const char api_openapi_yaml[] = {\n${bytes}0x00};\n"
     "const size_t api_openapi_yaml_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
