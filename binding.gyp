{
  "variables": {
    # Test probes (waiterThreads, shmRefuseExternalBuffers, shmLiveAttachments,
    # chLiveHandles): compiled only when asked, as the dev/CI build does
    # (npm run compile:native passes --sysv_ipc_test_probes=true); the shipped
    # prebuilds (scripts/prebuild.sh) leave them out.
    "sysv_ipc_test_probes%": "false",
    # The shipped prebuilds' link (scripts/prebuild.sh sets it, with Zig's
    # clang and libc++ linked statically): export only the Node-API entry
    # points (scripts/prebuild-exports.map says why) and -z nodelete, so the
    # addon is never unmapped: libc++abi's thread-exit cleanup (thread_local
    # destructors of the waiter threads) would otherwise run after Node
    # unloads the addon at a worker's end, a SIGSEGV (ld(1), -z nodelete).
    # A build from source (g++, the system's shared libstdc++) leaves it off.
    "sysv_ipc_prebuild%": "false"
  },
  "targets": [
    {
      "target_name": "sysv_ipc",
      "sources": [
        "native/addon.cc",
        "native/arguments.cc",
        "native/errors.cc",
        "native/interrupter.cc",
        "native/blocking.cc",
        "native/watchdog.cc",
        "native/waiter_pool.cc",
        "native/futex_parker.cc",
        "native/message_queue.cc",
        "native/semaphore.cc",
        "native/shared_memory.cc",
        "native/futex.cc",
        "native/liveness.cc",
        "native/fast_mutex.cc",
        "native/channel.cc",
        "native/cpu.cc",
        "native/shared_map.cc",
        "native/topic.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "include"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "SYSV_IPC_SOURCE_HASH=\"<!(node scripts/source-hash.js)\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-Wall",
        "-Wextra",
        "-fstack-protector-strong",
        "-fvisibility=hidden"
      ],
      "conditions": [
        ["sysv_ipc_test_probes=='true'", {
          "defines": ["SYSV_IPC_TEST_PROBES"]
        }],
        ["OS=='linux' and sysv_ipc_prebuild=='true'", {
          "ldflags": [
            "-Wl,--version-script=<(module_root_dir)/scripts/prebuild-exports.map",
            "-Wl,-z,nodelete"
          ]
        }],
        ["OS=='linux'", {
          "defines": ["HAVE_SEMTIMEDOP", "HAVE_MSG_EXCEPT", "HAVE_FUTEX", "HAVE_THREAD_TIMERS", "_GNU_SOURCE"],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LIBRARY": "libc++",
            "MACOSX_DEPLOYMENT_TARGET": "10.15",
            "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden"]
          }
        }],
        ["OS=='freebsd'", {
          "libraries": ["-lpthread"]
        }]
      ]
    }
  ]
}
