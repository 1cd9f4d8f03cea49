// A user's program against the installed, registry-only package.
#include <cstdio>
#include <fstream>
#include <lamin/db.hpp>

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "instance";
  auto instance = lamin::init(dir);
  std::ofstream(dir + "/model.pt") << "weights";
  auto artifact = instance->create_artifact(dir + "/model.pt", lamin::ArtifactOptions("models/model.pt"));
  std::printf("registered %s\n", artifact.uid.c_str());
  return 0;
}
