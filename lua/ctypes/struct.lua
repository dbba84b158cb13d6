-- ctypes.struct: the structure and union constructors. The C core does the
-- work (one layout computation, in src/struct.c); these name the variants.
return function(M, core)
  local define = core._struct_define
  M._struct_define = nil

  local function ctor(which)
    return function(name, body) return define(name, body, which) end
  end

  M.Structure = ctor("Structure")
  M.Union = ctor("Union")
  M.BigEndianStructure = ctor("BigEndianStructure")
  M.LittleEndianStructure = ctor("LittleEndianStructure")
  M.BigEndianUnion = ctor("BigEndianUnion")
  M.LittleEndianUnion = ctor("LittleEndianUnion")
end
